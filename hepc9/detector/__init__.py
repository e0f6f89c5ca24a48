"""Fast Belle II-like detector response for B0 → K*0(→K+π−)μ+μ− signal events.

For every event with lab four-vectors of the kaon, pion and the two muons the simulation
applies, in this order (numbers from :class:`hepc9.config.DetectorConfig`):

1. **Acceptance**: each track's true polar angle within the CDC acceptance 17°–150°.
2. **Momentum thresholds**: each track ``pT > pt_min`` (0.05 GeV, softer tracks curl in the
   CDC); muons ``p > 0.6`` GeV (the reference analysis; KLM reach), optional kaon/pion minima.
3. **Muon identification**: per muon
   ``ε_μ(p, θ) = plateau / (1 + exp(−(p − p_half)/width)) × (endcap factor outside 45°–125°)``;
   the event survives with probability ``ε_μ(μ+) ε_μ(μ−)``.
4. **Kaon identification**: ``ε_K(p) = clip(plateau − slope·p, 0, 1)`` (K/π separation
   degrades with momentum).
5. **Smearing** of each surviving track: ``pT → pT (1 + σ_rel z₁)`` with
   ``σ_rel = a·pT ⊕ b/β`` (the Belle II TDR form, arXiv:1011.0352; defaults a = 0.1 %/GeV,
   b = 0.3 %, the issue's "0.1 %·pT ⊕ 0.3 %" class), and the direction rotated by
   ``δφ = σ_dir z₂``, ``δθ = σ_dir z₃`` with ``σ_dir = c ⊕ d/(pβ)`` (c = 0.5 mrad intrinsic,
   d = 1.5 mrad·GeV multiple scattering; typical values, see physics.md §11.8).  The energy
   is recomputed from the measured momentum and the mass hypothesis of the track.
6. **Reconstruction**: q², m(Kπ) and the angles are recomputed from the smeared vectors with
   :func:`hepc9.kinematics.angles_from_four_vectors`;
   ``Mbc = √(E*_beam² − |Σp*|²)`` and ``ΔE = ΣE* − E*_beam`` in the nominal centre-of-mass
   frame (physics.md §8).

Acceptance and thresholds use the true momenta (the resolution is far below the cut
scales).  **Beam-energy spread**: the generated B carries the nominal beam energy, while a
real collision's energy differs from the nominal one used in the reconstruction by
``δ ~ N(0, σ(E*_beam))``; Mbc and ΔE are therefore evaluated with ``E*_beam − δ``, which
reproduces the correlated shifts ``ΔE → ΔE + δ``, ``Mbc → Mbc − δ·E*_beam/m_B`` to first
order.  ``σ(E*_beam)`` defaults to the spread implied by the two beams of the
:class:`~hepc9.kinematics.BeamSpec` (2.5 MeV for Belle II), giving σ(Mbc) ≈ 2.5 MeV and
σ(ΔE) ≈ 15–20 MeV as in physics.md §8.

The random numbers are drawn with numpy in a fixed order (two uniforms per event for the
identification, then thirteen normals per surviving event, large arrays in fixed blocks from
spawned child generators filled in parallel), and the per-event arithmetic runs
in numba kernels (:func:`simulate_detector`) or in their plain numpy twins
(``engine="numpy"``); both give the same result to rounding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numba
import numpy as np

from hepc9 import kinematics
from hepc9.config import DetectorConfig
from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.physics.constants import SEED_MODEL, ModelConstants, q2_limits
from hepc9.selection import Cutflow

__all__ = [
    "ANGLE_COLUMNS",
    "DETECTOR_STEPS",
    "FOUR_VECTOR_COLUMNS",
    "EfficiencyTable",
    "accept_background",
    "beam_energy_spread",
    "kaon_id_efficiency",
    "muon_id_efficiency",
    "pt_resolution",
    "simulate_detector",
]

#: Particle prefixes of the four tracks, in the order used by the kernels.
_PARTICLES = ("k", "pi", "mup", "mum")
#: Native four-vector columns the detector simulation needs (formats.md §1).
FOUR_VECTOR_COLUMNS = tuple(f"{p}_{c}" for p in _PARTICLES for c in ("e", "px", "py", "pz"))
#: Columns recomputed from the (smeared) four-vectors.
ANGLE_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi")
#: Columns :func:`accept_background` reads.
BACKGROUND_INPUT_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour")
#: Cutflow step names of :func:`simulate_detector`, in order.
DETECTOR_STEPS = ("generated", "acceptance", "momentum thresholds", "muon ID", "kaon ID")

# fail codes of the geometry kernel (0 = passed)
_FAIL_ACCEPTANCE = 1
_FAIL_MOMENTUM = 2

# KLM barrel coverage in degrees: muon ID is lower in the endcaps
_KLM_BARREL_DEG = (45.0, 125.0)

_N_GEOMETRY_PARAMS = 15
_N_SMEAR_PARAMS = 4


# --------------------------------------------------------------------------------------------
# parametrisations (numpy; also used for plots and tests)
# --------------------------------------------------------------------------------------------


def pt_resolution(pt: np.ndarray, beta: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """Relative transverse-momentum resolution ``σ(pT)/pT = a·pT ⊕ b/β``.

    Parameters
    ----------
    pt : numpy.ndarray
        Transverse momenta in GeV.
    beta : numpy.ndarray
        Velocities p/E of the tracks.
    config : DetectorConfig
        ``pt_resolution_a`` [GeV⁻¹] and ``pt_resolution_b``.

    Returns
    -------
    numpy.ndarray
        σ(pT)/pT, float64, broadcast shape of the inputs.
    """
    return np.hypot(config.pt_resolution_a * np.asarray(pt), config.pt_resolution_b / beta)


def muon_id_efficiency(
    p: np.ndarray, theta: np.ndarray, config: DetectorConfig
) -> np.ndarray:
    """Muon identification efficiency per muon as a function of momentum and polar angle.

    Parameters
    ----------
    p : numpy.ndarray
        Lab momenta in GeV.
    theta : numpy.ndarray
        Lab polar angles in rad.
    config : DetectorConfig
        ``muon_id_plateau``, ``muon_id_p_half``, ``muon_id_p_width``, ``muon_id_endcap_factor``.

    Returns
    -------
    numpy.ndarray
        Efficiencies in [0, 1], float64.
    """
    p = np.asarray(p, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if config.muon_id_p_width > 0.0:
        z = (p - config.muon_id_p_half) / config.muon_id_p_width
        turn_on = 0.5 * (1.0 + np.tanh(0.5 * z))  # logistic, overflow-free
    else:
        turn_on = (p >= config.muon_id_p_half).astype(np.float64)
    cos_theta = np.cos(theta)
    lo, hi = (math.cos(math.radians(d)) for d in _KLM_BARREL_DEG)
    endcap = (cos_theta > lo) | (cos_theta < hi)
    return config.muon_id_plateau * turn_on * np.where(endcap, config.muon_id_endcap_factor, 1.0)


def kaon_id_efficiency(
    p: np.ndarray, theta: np.ndarray, config: DetectorConfig
) -> np.ndarray:
    """Kaon identification efficiency ``clip(plateau − slope·p, 0, 1)``.

    Parameters
    ----------
    p : numpy.ndarray
        Lab momenta in GeV.
    theta : numpy.ndarray
        Lab polar angles in rad (the default parametrisation does not depend on them).
    config : DetectorConfig
        ``kaon_id_plateau`` and ``kaon_id_slope`` [GeV⁻¹].

    Returns
    -------
    numpy.ndarray
        Efficiencies in [0, 1], float64.
    """
    p = np.asarray(p, dtype=np.float64)
    eff = config.kaon_id_plateau - config.kaon_id_slope * p
    return np.clip(eff + 0.0 * np.asarray(theta), 0.0, 1.0)


def beam_energy_spread(beam: kinematics.BeamSpec) -> float:
    """Gaussian spread σ(E*_beam) in GeV implied by the two beams' energy spreads.

    Parameters
    ----------
    beam : BeamSpec
        Beam energies, crossing angle and spreads.

    Returns
    -------
    float
        ``½ √((∂√s/∂E_HER σ_HER)² + (∂√s/∂E_LER σ_LER)²)`` (derivatives by central
        differences), 2.5 MeV for Belle II.
    """

    def half_sqrt_s(**kw: float) -> float:
        return dataclasses.replace(beam, **kw).e_beam_cm

    h = 1e-4
    d_her = (half_sqrt_s(e_her=beam.e_her + h) - half_sqrt_s(e_her=beam.e_her - h)) / (2 * h)
    d_ler = (half_sqrt_s(e_ler=beam.e_ler + h) - half_sqrt_s(e_ler=beam.e_ler - h)) / (2 * h)
    return math.hypot(d_her * beam.sigma_e_her, d_ler * beam.sigma_e_ler)


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


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


def _stack_tracks(events: Mapping[str, np.ndarray]) -> np.ndarray:
    missing = [c for c in FOUR_VECTOR_COLUMNS if c not in events]
    if missing:
        raise DataError(
            "the detector simulation needs lab four-vectors of the kaon, pion and both muons; "
            f"missing columns {', '.join(missing)}.  Generate with four_vectors = true or add "
            "them with hepc9.generate.sampler.lab_four_vectors (hepc9 simulate does this itself)"
        )
    n = len(np.asarray(events[FOUR_VECTOR_COLUMNS[0]]))
    tracks = np.empty((16, n))
    for row, name in enumerate(FOUR_VECTOR_COLUMNS):
        col = np.asarray(events[name], dtype=np.float64)
        if col.shape != (n,):
            raise ShapeError(f"column '{name}' has shape {col.shape}, expected ({n},)")
        tracks[row] = col
    if not np.isfinite(tracks.sum(axis=0)).all():  # NaN and inf survive the sum
        row, i = (int(v[0]) for v in np.nonzero(~np.isfinite(tracks)))
        raise DataError(
            f"column '{FOUR_VECTOR_COLUMNS[row]}' is not finite in event {i}; drop such rows "
            "before the detector simulation"
        )
    return tracks


#: Rows of normals drawn from one spawned child generator (fixes the streams, not the threads).
_NORMAL_BLOCK = 1 << 17


def _draw_normals(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Draw a (rows, cols) array of standard normals, in parallel blocks when it is large.

    Blocks of :data:`_NORMAL_BLOCK` rows come from ``rng.spawn(n_blocks)`` children, so the
    numbers depend on ``rng`` and ``rows`` only, never on the number of threads.
    """
    out = np.empty((rows, cols))
    n_blocks = -(-rows // _NORMAL_BLOCK)
    if n_blocks <= 1:
        rng.standard_normal(out=out)
        return out
    children = rng.spawn(n_blocks)

    def fill(k: int) -> None:
        children[k].standard_normal(out=out[k * _NORMAL_BLOCK : (k + 1) * _NORMAL_BLOCK])

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, numba.get_num_threads())) as pool:
        list(pool.map(fill, range(n_blocks)))
    return out


def _per_particle(tracks: np.ndarray) -> list[np.ndarray]:
    """Split (16, n) component rows into four (n, 4) four-vector arrays (k, pi, mup, mum)."""
    return [np.ascontiguousarray(tracks[4 * j : 4 * j + 4].T) for j in range(4)]


def _flavour(events: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    if "flavour" not in events:
        raise DataError("the detector simulation needs the 'flavour' column (+1 B0, −1 anti-B0)")
    flav = np.asarray(events["flavour"])
    if flav.shape != (n,):
        raise ShapeError(f"column 'flavour' has shape {flav.shape}, expected ({n},)")
    if not np.all((flav == 1) | (flav == -1)):
        raise DataError("column 'flavour' must hold +1 (B0) or -1 (anti-B0) only")
    return flav.astype(np.int8)


def simulate_detector(
    events: Mapping[str, np.ndarray],
    *,
    config: DetectorConfig,
    rng: np.random.Generator,
    beam: kinematics.BeamSpec = kinematics.BELLE2,
    constants: ModelConstants = SEED_MODEL,
    engine: Literal["numba", "numpy"] = "numba",
) -> tuple[dict[str, np.ndarray], Cutflow]:
    """Apply acceptance, thresholds, identification and resolution to signal events.

    Parameters
    ----------
    events : mapping of str to numpy.ndarray
        Generator-level events, each column of shape ``(n,)``: the lab four-vectors
        ``k_* pi_* mup_* mum_*`` (GeV) and ``flavour``; ``q2 costheta_l costheta_k chi mkpi``
        are used as truth when present (else computed from the four-vectors); ``weight`` is
        passed through.
    config : DetectorConfig
        Acceptance, thresholds, efficiencies and resolutions.
    rng : numpy.random.Generator
        Source of randomness: ``2n`` uniforms, then ``13`` normals per event that passes
        acceptance, thresholds and identification (drawn in blocks of 131072 events from
        ``rng.spawn`` children, so ``rng`` must come from a ``SeedSequence``, as
        ``numpy.random.default_rng`` and :func:`hepc9.seeding.rng` do).
    beam : BeamSpec
        Beams (centre-of-mass frame and E*_beam for Mbc and ΔE).
    constants : ModelConstants
        Masses of the track hypotheses (K, π, μ) and of the B.
    engine : {"numba", "numpy"}
        Per-event arithmetic in numba kernels or in their plain numpy twins.

    Returns
    -------
    events : dict of str to numpy.ndarray
        The surviving events (m ≤ n rows): reconstructed ``q2 costheta_l costheta_k chi mkpi``
        and four-vectors (float64), ``flavour`` (int8), ``mbc delta_e`` (GeV), ``is_signal = 1``
        (int8), ``<name>_true`` copies of every kinematic column and ``flavour_true``, and
        ``weight`` when the input had it.
    cutflow : Cutflow
        Counts after each of :data:`DETECTOR_STEPS`.
    """
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if engine not in ("numba", "numpy"):
        raise ConfigError(f"engine must be 'numba' or 'numpy', got {engine!r}")
    tracks = _stack_tracks(events)
    n = tracks.shape[1]
    flavour = _flavour(events, n)
    masses = np.array([constants.m_K, constants.m_pi, constants.m_mu, constants.m_mu])
    sigma_beam = (
        beam_energy_spread(beam)
        if config.beam_energy_spread is None
        else float(config.beam_energy_spread)
    )

    if engine == "numba":
        code = np.empty(n, dtype=np.int8)
        eff_mu = np.empty(n)
        eff_k = np.empty(n)
        _geometry_kernel(tracks, _geometry_params(config), code, eff_mu, eff_k)
    else:
        code, eff_mu, eff_k = _geometry_numpy(tracks, config)

    u = rng.random((n, 2))
    pass_mu = u[:, 0] < eff_mu
    pass_k = u[:, 1] < eff_k
    geometric = code == 0
    flow = Cutflow()
    flow.add("generated", n)
    flow.add("acceptance", n - int(np.count_nonzero(code == _FAIL_ACCEPTANCE)))
    flow.add("momentum thresholds", int(np.count_nonzero(geometric)))
    flow.add("muon ID", int(np.count_nonzero(geometric & pass_mu)))
    keep = np.flatnonzero(geometric & pass_mu & pass_k)
    flow.add("kaon ID", keep.size)

    normals = _draw_normals(rng, keep.size, 13)
    if engine == "numba":
        m = keep.size
        true_tracks = np.empty((16, m))
        smeared = np.empty((16, m))
        parts = np.empty((4, m, 4))
        mbc = np.empty(m)
        delta_e = np.empty(m)
        params = np.array(
            [config.pt_resolution_a, config.pt_resolution_b, config.angle_resolution_c,
             config.angle_resolution_d, beam.e_beam_cm, sigma_beam]
        )  # fmt: skip
        beta_cm = np.asarray(beam.boost_vector, dtype=np.float64)
        _smear_kernel(tracks, keep, masses, normals, params, beta_cm, true_tracks, smeared, parts,
                      mbc, delta_e)  # fmt: skip
        angles = kinematics.angles_from_four_vectors(*parts, flavour[keep])
    else:
        true_tracks = tracks[:, keep]
        e_beam = beam.e_beam_cm - sigma_beam * normals[:, 12]
        smeared, mbc, delta_e = _smear_numpy(true_tracks, masses, normals, config, beam, e_beam)
        angles = kinematics.angles_from_four_vectors_numpy(
            *_per_particle(smeared), flavour[keep]
        )

    if all(name in events for name in ANGLE_COLUMNS):
        truth = {name: np.asarray(events[name], dtype=np.float64)[keep] for name in ANGLE_COLUMNS}
    else:
        finder = (
            kinematics.angles_from_four_vectors
            if engine == "numba"
            else kinematics.angles_from_four_vectors_numpy
        )
        truth = finder(*_per_particle(true_tracks), flavour[keep])

    out: dict[str, np.ndarray] = {name: angles[name] for name in ANGLE_COLUMNS}
    out["flavour"] = flavour[keep]
    for row, name in enumerate(FOUR_VECTOR_COLUMNS):
        out[name] = smeared[row]
    out["mbc"] = mbc
    out["delta_e"] = delta_e
    out["is_signal"] = np.ones(keep.size, dtype=np.int8)
    for name in ANGLE_COLUMNS:
        out[f"{name}_true"] = truth[name]
    for row, name in enumerate(FOUR_VECTOR_COLUMNS):
        out[f"{name}_true"] = true_tracks[row]
    out["flavour_true"] = flavour[keep].copy()
    if "weight" in events:
        out["weight"] = np.asarray(events["weight"], dtype=np.float64)[keep]
    return out, flow


# --------------------------------------------------------------------------------------------
# track selection of combinatorial background candidates
# --------------------------------------------------------------------------------------------


def _background_tracks(
    events: Mapping[str, np.ndarray],
    *,
    rng: np.random.Generator,
    beam: kinematics.BeamSpec,
    constants: ModelConstants,
    engine: str,
) -> np.ndarray:
    """Lab tracks (16, n) of background candidates built from their decay variables."""
    missing = [c for c in BACKGROUND_INPUT_COLUMNS if c not in events]
    if missing:
        raise DataError(
            "the background track selection needs the columns "
            f"{', '.join(BACKGROUND_INPUT_COLUMNS)}; missing {', '.join(missing)} "
            "(hepc9.background.generate_background writes all of them)"
        )
    q2 = np.asarray(events["q2"], dtype=np.float64)
    if q2.ndim != 1:
        raise ShapeError(f"column 'q2' must be one-dimensional, got shape {q2.shape}")
    n = q2.shape[0]
    cols = {}
    for name in BACKGROUND_INPUT_COLUMNS[1:]:
        col = np.asarray(events[name])
        if col.shape != (n,):
            raise ShapeError(f"column '{name}' has shape {col.shape}, expected ({n},)")
        cols[name] = col
    m_b, m_k, m_pi, m_mu = constants.m_B0, constants.m_K, constants.m_pi, constants.m_mu
    # a candidate is a point in (q², m(Kπ)) that need not be a kinematically allowed B decay;
    # its tracks are built at the nearest allowed point (q² above 4 m_μ², m(Kπ) between
    # m_K + m_π and m_B − √q², with a margin of 1e-9 of the scale)
    m_lo = m_k + m_pi
    q2 = np.clip(q2, 4.0 * m_mu * m_mu * (1.0 + 1e-9), (m_b - m_lo) ** 2 * (1.0 - 1e-9))
    mkpi = np.clip(cols["mkpi"].astype(np.float64), m_lo * (1.0 + 1e-9),
                   (m_b - np.sqrt(q2)) * (1.0 - 1e-9))  # fmt: skip
    ctl = np.clip(cols["costheta_l"].astype(np.float64), -1.0, 1.0)
    ctk = np.clip(cols["costheta_k"].astype(np.float64), -1.0, 1.0)
    build = (
        kinematics.four_vectors_from_angles
        if engine == "numba"
        else kinematics.four_vectors_from_angles_numpy
    )
    rest = build(q2, ctl, ctk, cols["chi"].astype(np.float64), mkpi, _flavour(cols, n),
                 m_b=m_b, m_k=m_k, m_pi=m_pi, m_mu=m_mu)  # fmt: skip
    move = kinematics.to_lab if engine == "numba" else kinematics.to_lab_numpy
    lab = move(rest, rng=rng, beam=beam, m_b=m_b)
    tracks = np.empty((16, n))
    for j, name in enumerate(_PARTICLES):
        tracks[4 * j : 4 * j + 4] = lab[name].T
    return tracks


def accept_background(
    events: Mapping[str, np.ndarray],
    *,
    config: DetectorConfig,
    rng: np.random.Generator,
    beam: kinematics.BeamSpec = kinematics.BELLE2,
    constants: ModelConstants = SEED_MODEL,
    engine: Literal["numba", "numpy"] = "numba",
) -> np.ndarray:
    """Apply the track selection of the detector to combinatorial background candidates.

    Combinatorial candidates are built from four real tracks, which pass the same acceptance,
    momentum thresholds and identification as the tracks of a signal decay (physics.md §8:
    the acceptance removes large ``|cos θℓ|`` at low q²).  For each candidate the four tracks
    are rebuilt from its decay variables in the B rest frame
    (:func:`hepc9.kinematics.four_vectors_from_angles`), turned by a random decay orientation
    and moved to the lab with a random B direction (:func:`hepc9.kinematics.to_lab`); then
    steps 1–4 of :func:`simulate_detector` are applied with the same kernels and the same
    identification draws.  Nothing is smeared: the candidate's columns stay as generated.

    Parameters
    ----------
    events : mapping of str to numpy.ndarray
        Background candidates, columns ``q2`` (GeV²), ``costheta_l``, ``costheta_k``, ``chi``
        (rad), ``mkpi`` (GeV) and ``flavour`` (±1), each of shape ``(n,)``.  Points outside
        the B → Kπμμ phase space (q² > (m_B − m_Kπ)², possible since q² and m(Kπ) are drawn
        independently) get their tracks at ``m_Kπ = m_B − √q²``.
    config : DetectorConfig
        Acceptance, thresholds and identification efficiencies.
    rng : numpy.random.Generator
        Source of randomness, drawn in the fixed order: B directions and decay orientations
        (as :func:`hepc9.kinematics.to_lab`), then ``2n`` uniforms for muon and kaon
        identification.
    beam : BeamSpec
        Beams (boost to the lab and B momentum in the centre-of-mass frame).
    constants : ModelConstants
        Masses of the B and of the track hypotheses (K, π, μ).
    engine : {"numba", "numpy"}
        Kernels or their plain numpy twins (same draws, same result to rounding).

    Returns
    -------
    numpy.ndarray
        Boolean mask of shape ``(n,)``: true for candidates whose four tracks pass.
    """
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if engine not in ("numba", "numpy"):
        raise ConfigError(f"engine must be 'numba' or 'numpy', got {engine!r}")
    tracks = _background_tracks(events, rng=rng, beam=beam, constants=constants, engine=engine)
    n = tracks.shape[1]
    if engine == "numba":
        code = np.empty(n, dtype=np.int8)
        eff_mu = np.empty(n)
        eff_k = np.empty(n)
        if n:
            _geometry_kernel(tracks, _geometry_params(config), code, eff_mu, eff_k)
    else:
        code, eff_mu, eff_k = _geometry_numpy(tracks, config)
    u = rng.random((n, 2))
    return (code == 0) & (u[:, 0] < eff_mu) & (u[:, 1] < eff_k)


# --------------------------------------------------------------------------------------------
# efficiency tables
# --------------------------------------------------------------------------------------------


@dataclass
class EfficiencyTable:
    """Selection efficiency versus the true q² and each true angle, filled chunk by chunk.

    Parameters
    ----------
    edges : dict of str to numpy.ndarray
        Bin edges per variable (``q2`` [GeV²], ``costheta_l``, ``costheta_k``, ``chi`` [rad]).
    generated, selected : dict of str to numpy.ndarray
        Integer counts per bin (shape ``(bins,)``) of generated and selected events.

    Notes
    -----
    Values outside the edges are counted in the first or last bin (q² of a broad K* line
    shape can exceed the narrow-K* limit).  The uncertainty is binomial,
    ``√(ε(1 − ε)/N_gen)``.
    """

    edges: dict[str, np.ndarray]
    generated: dict[str, np.ndarray]
    selected: dict[str, np.ndarray]

    VARIABLES = ("q2", "costheta_l", "costheta_k", "chi")

    @classmethod
    def empty(cls, *, bins: int = 10, constants: ModelConstants = SEED_MODEL) -> EfficiencyTable:
        """Return a table with ``bins`` equal bins per variable and zero counts.

        Parameters
        ----------
        bins : int
            Bins per variable.
        constants : ModelConstants
            Masses fixing the q² range (narrow K*, physics.md §1.2).

        Returns
        -------
        EfficiencyTable
        """
        if int(bins) < 1:
            raise ConfigError(f"efficiency tables need at least one bin, got {bins}")
        q2_lo, q2_hi = q2_limits(constants)
        ranges = {
            "q2": (q2_lo, q2_hi),
            "costheta_l": (-1.0, 1.0),
            "costheta_k": (-1.0, 1.0),
            "chi": (0.0, 2.0 * math.pi),
        }
        edges = {k: np.linspace(lo, hi, int(bins) + 1) for k, (lo, hi) in ranges.items()}
        zeros = {k: np.zeros(int(bins), dtype=np.int64) for k in ranges}
        selected = {k: v.copy() for k, v in zeros.items()}
        return cls(edges=edges, generated=zeros, selected=selected)

    def _counts(self, name: str, values: np.ndarray) -> np.ndarray:
        e = self.edges[name]
        idx = np.searchsorted(e, np.asarray(values, dtype=np.float64), side="right") - 1
        idx = np.clip(idx, 0, e.size - 2)
        return np.bincount(idx, minlength=e.size - 1).astype(np.int64)

    def fill(
        self, generated: Mapping[str, np.ndarray], selected: Mapping[str, np.ndarray]
    ) -> None:
        """Add counts of one chunk.

        Parameters
        ----------
        generated : mapping
            Generator-level columns ``q2 costheta_l costheta_k chi`` of all events of the chunk.
        selected : mapping
            The selected events' truth, ``q2_true costheta_l_true costheta_k_true chi_true``
            (plain names are accepted too).
        """
        keys = {}
        for name in self.VARIABLES:  # check everything before counting anything
            if name not in generated:
                raise DataError(f"efficiency table needs the generated column '{name}'")
            keys[name] = f"{name}_true" if f"{name}_true" in selected else name
            if keys[name] not in selected:
                raise DataError(f"efficiency table needs the selected column '{name}_true'")
        for name, key in keys.items():
            self.generated[name] += self._counts(name, generated[name])
            self.selected[name] += self._counts(name, selected[key])

    def efficiency(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (efficiency, binomial error) per bin of ``name`` (NaN for empty bins)."""
        gen = self.generated[name].astype(np.float64)
        sel = self.selected[name].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            eff = np.where(gen > 0, sel / np.where(gen > 0, gen, 1.0), np.nan)
            err = np.where(gen > 0, np.sqrt(np.clip(eff * (1 - eff), 0, None) / gen), np.nan)
        return eff, err

    def to_dict(self) -> dict[str, Any]:
        """Return ``{variable: {"edges", "generated", "selected", "efficiency", "error"}}``."""
        out: dict[str, Any] = {}
        for name in self.VARIABLES:
            eff, err = self.efficiency(name)
            out[name] = {
                "edges": self.edges[name].tolist(),
                "generated": self.generated[name].tolist(),
                "selected": self.selected[name].tolist(),
                "efficiency": [None if not np.isfinite(v) else float(v) for v in eff],
                "error": [None if not np.isfinite(v) else float(v) for v in err],
            }
        return out
