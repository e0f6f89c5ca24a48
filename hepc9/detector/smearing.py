"""Track smearing and the reconstructed Mbc and ΔE: numba kernel and numpy twin."""

from __future__ import annotations

import math

import numba
import numpy as np

from hepc9 import kinematics
from hepc9.config import DetectorConfig
from hepc9.detector.parametrisation import pt_resolution

__all__: list[str] = []


# --------------------------------------------------------------------------------------------
# kernels: smearing, Mbc and ΔE
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, parallel=True)
def _smear_kernel(
    tracks, keep, masses, normals, par, beta_cm, true_out, out, parts, mbc, delta_e
):  # pragma: no cover - compiled
    """Smear the tracks of events ``keep`` with (m, 13) normals.

    tracks (16, n) → true_out (16, m) gathered truth, out (16, m) smeared, parts (4, m, 4)
    smeared four-vectors per particle, Mbc and ΔE (m,).  par = (a, b, c, d, E*_beam, σ(E*)).
    """
    m_events = keep.shape[0]
    a, b, c, d = par[0], par[1], par[2], par[3]
    bx, by, bz = beta_cm[0], beta_cm[1], beta_cm[2]
    b2 = bx * bx + by * by + bz * bz
    gamma = 1.0 / math.sqrt(1.0 - b2)
    for i in numba.prange(m_events):
        src = keep[i]
        for r in range(16):
            true_out[r, i] = tracks[r, src]
        se = 0.0
        sx = 0.0
        sy = 0.0
        sz = 0.0
        for j in range(4):
            m = masses[j]
            px = true_out[4 * j + 1, i]
            py = true_out[4 * j + 2, i]
            pz = true_out[4 * j + 3, i]
            pt = math.sqrt(px * px + py * py)
            p = math.sqrt(pt * pt + pz * pz)
            beta = p / math.sqrt(p * p + m * m)
            s_rel = math.sqrt((a * pt) ** 2 + (b / beta) ** 2)
            s_dir = math.sqrt(c * c + (d / (p * beta)) ** 2)
            scale = max(1.0 + s_rel * normals[i, 3 * j], 1e-9)
            dphi = s_dir * normals[i, 3 * j + 1]
            t = math.tan(s_dir * normals[i, 3 * j + 2])
            cphi = math.cos(dphi)
            sphi = math.sin(dphi)
            cot = pz / pt
            denom = 1.0 + t * cot
            # θ + δθ beyond 0 or π (denom <= 0): the track crosses the axis, φ turns by π
            flip = -1.0 if denom <= 0.0 else 1.0
            nx = flip * scale * (px * cphi - py * sphi)
            ny = flip * scale * (px * sphi + py * cphi)
            nz = flip * scale * pt * ((cot - t) / (denom if denom != 0.0 else 1e-300))
            ne = math.sqrt(nx * nx + ny * ny + nz * nz + m * m)
            out[4 * j, i] = ne
            out[4 * j + 1, i] = nx
            out[4 * j + 2, i] = ny
            out[4 * j + 3, i] = nz
            parts[j, i, 0] = ne
            parts[j, i, 1] = nx
            parts[j, i, 2] = ny
            parts[j, i, 3] = nz
            se += ne
            sx += nx
            sy += ny
            sz += nz
        bp = bx * sx + by * sy + bz * sz
        e_star = gamma * (se - bp)
        k = (gamma - 1.0) * bp / b2 - gamma * se if b2 > 0.0 else 0.0
        qx = sx + k * bx
        qy = sy + k * by
        qz = sz + k * bz
        e_used = par[4] - par[5] * normals[i, 12]
        delta_e[i] = e_star - e_used
        m2 = e_used * e_used - (qx * qx + qy * qy + qz * qz)
        mbc[i] = math.sqrt(m2) if m2 > 0.0 else 0.0


def _smear_numpy(
    tracks: np.ndarray,
    masses: np.ndarray,
    normals: np.ndarray,
    config: DetectorConfig,
    beam: kinematics.BeamSpec,
    e_beam: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain numpy twin of the smearing kernel (CM boost by :func:`kinematics.lab_to_cm`)."""
    out = np.empty_like(tracks)
    for j in range(4):
        m = masses[j]
        px, py, pz = tracks[4 * j + 1], tracks[4 * j + 2], tracks[4 * j + 3]
        pt = np.hypot(px, py)
        p = np.sqrt(pt * pt + pz * pz)
        beta = p / np.sqrt(p * p + m * m)
        s_rel = pt_resolution(pt, beta, config)
        s_dir = np.hypot(config.angle_resolution_c, config.angle_resolution_d / (p * beta))
        scale = np.maximum(1.0 + s_rel * normals[:, 3 * j], 1e-9)
        dphi = s_dir * normals[:, 3 * j + 1]
        t = np.tan(s_dir * normals[:, 3 * j + 2])
        cot = pz / pt
        denom = 1.0 + t * cot
        flip = np.where(denom <= 0.0, -1.0, 1.0)
        out[4 * j + 1] = flip * scale * (px * np.cos(dphi) - py * np.sin(dphi))
        out[4 * j + 2] = flip * scale * (px * np.sin(dphi) + py * np.cos(dphi))
        out[4 * j + 3] = flip * scale * pt * ((cot - t) / np.where(denom != 0.0, denom, 1e-300))
        p2 = out[4 * j + 1] ** 2 + out[4 * j + 2] ** 2 + out[4 * j + 3] ** 2
        out[4 * j] = np.sqrt(p2 + m * m)
    total = np.ascontiguousarray(out.reshape(4, 4, -1).sum(axis=0).T)
    star = kinematics.lab_to_cm(total, beam)
    delta_e = star[:, 0] - e_beam
    m2 = e_beam**2 - np.sum(star[:, 1:] ** 2, axis=1)
    mbc = np.sqrt(np.where(m2 > 0.0, m2, 0.0))
    return out, mbc, delta_e
