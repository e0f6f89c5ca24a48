"""Acceptance, momentum thresholds and identification probabilities: numba kernel and numpy twin."""

from __future__ import annotations

import math

import numba
import numpy as np

from hepc9.config import DetectorConfig
from hepc9.detector.columns import _FAIL_ACCEPTANCE, _FAIL_MOMENTUM, _KLM_BARREL_DEG
from hepc9.detector.parametrisation import kaon_id_efficiency, muon_id_efficiency

__all__: list[str] = []


# --------------------------------------------------------------------------------------------
# kernels: geometry (acceptance, thresholds, identification probabilities)
# --------------------------------------------------------------------------------------------


def _geometry_params(config: DetectorConfig) -> np.ndarray:
    """Pack the configuration for the kernel; polar-angle limits as cosines (cos θ = pz/p)."""
    lo, hi = (math.cos(math.radians(d)) for d in _KLM_BARREL_DEG)
    return np.array(
        [
            math.cos(math.radians(config.theta_max_deg)),
            math.cos(math.radians(config.theta_min_deg)),
            config.pt_min,
            config.p_min_kaon,
            config.p_min_pion,
            config.p_min_muon,
            config.muon_id_plateau,
            config.muon_id_p_half,
            config.muon_id_p_width,
            config.muon_id_endcap_factor,
            lo,
            hi,
            config.kaon_id_plateau,
            config.kaon_id_slope,
            0.0,
        ],
        dtype=np.float64,
    )


@numba.njit(cache=True, nogil=True)
def _muon_eff_scalar(p, cos_theta, par):  # pragma: no cover - compiled
    width = par[8]
    if width > 0.0:
        turn_on = 0.5 * (1.0 + math.tanh(0.5 * (p - par[7]) / width))
    else:
        turn_on = 1.0 if p >= par[7] else 0.0
    # par[10] = cos 45°, par[11] = cos 125°: outside the KLM barrel
    factor = par[9] if (cos_theta > par[10] or cos_theta < par[11]) else 1.0
    return par[6] * turn_on * factor


@numba.njit(cache=True, nogil=True, parallel=True)
def _geometry_kernel(tracks, par, code, eff_mu, eff_k):  # pragma: no cover - compiled
    """tracks: (16, n) lab components (E, px, py, pz) of k, pi, mup, mum."""
    n = tracks.shape[1]
    for i in numba.prange(n):
        accepted = True
        above = True
        p_k = 0.0
        e_mu = 1.0
        for j in range(4):
            px = tracks[4 * j + 1, i]
            py = tracks[4 * j + 2, i]
            pz = tracks[4 * j + 3, i]
            pt = math.sqrt(px * px + py * py)
            p = math.sqrt(pt * pt + pz * pz)
            cos_theta = pz / p if p > 0.0 else 1.0
            if not (cos_theta >= par[0] and cos_theta <= par[1]):
                accepted = False
            pmin = par[3] if j == 0 else (par[4] if j == 1 else par[5])
            if not (pt > par[2] and p > pmin):
                above = False
            if j == 0:
                p_k = p
            elif j >= 2:
                e_mu *= _muon_eff_scalar(p, cos_theta, par)
        code[i] = 0 if (accepted and above) else (2 if accepted else 1)
        eff_mu[i] = e_mu
        eff_k[i] = min(max(par[12] - par[13] * p_k, 0.0), 1.0)


def _geometry_numpy(
    tracks: np.ndarray, config: DetectorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain numpy twin of the geometry kernel: fail code, P(muon ID), P(kaon ID) per event."""
    t4 = tracks.reshape(4, 4, -1)  # (particle, component, event)
    pt = np.hypot(t4[:, 1], t4[:, 2])
    p = np.sqrt(pt * pt + t4[:, 3] ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_theta = np.where(p > 0.0, t4[:, 3] / p, 1.0)
    par = _geometry_params(config)
    in_acc = np.all((cos_theta >= par[0]) & (cos_theta <= par[1]), axis=0)
    p_min = np.array([config.p_min_kaon, config.p_min_pion, config.p_min_muon, config.p_min_muon])
    above = np.all((pt > config.pt_min) & (p > p_min[:, None]), axis=0)
    code = np.where(in_acc, np.where(above, 0, _FAIL_MOMENTUM), _FAIL_ACCEPTANCE).astype(np.int8)
    theta = np.arccos(np.clip(cos_theta, -1.0, 1.0))
    eff_mu = muon_id_efficiency(p[2], theta[2], config) * muon_id_efficiency(p[3], theta[3], config)
    eff_k = kaon_id_efficiency(p[0], theta[0], config)
    return code, eff_mu, eff_k
