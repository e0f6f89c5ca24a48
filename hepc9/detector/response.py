"""The detector response of signal events (:func:`simulate_detector`): random draws and steps.

The steps and their numbers are in the docstring of :mod:`hepc9.detector`.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numba
import numpy as np

from hepc9 import kinematics
from hepc9.config import DetectorConfig
from hepc9.detector.columns import (
    _FAIL_ACCEPTANCE,
    ANGLE_COLUMNS,
    FOUR_VECTOR_COLUMNS,
    _flavour,
    _stack_tracks,
)
from hepc9.detector.geometry import _geometry_kernel, _geometry_numpy, _geometry_params
from hepc9.detector.parametrisation import beam_energy_spread
from hepc9.detector.smearing import _smear_kernel, _smear_numpy
from hepc9.errors import ConfigError
from hepc9.physics.constants import SEED_MODEL, ModelConstants
from hepc9.selection import Cutflow

__all__ = ["simulate_detector"]


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

    with ThreadPoolExecutor(max_workers=max(1, numba.get_num_threads())) as pool:
        list(pool.map(fill, range(n_blocks)))
    return out


def _per_particle(tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split (16, n) component rows into four (n, 4) four-vector arrays (k, pi, mup, mum)."""
    k, pi, mup, mum = (np.ascontiguousarray(tracks[4 * j : 4 * j + 4].T) for j in range(4))
    return k, pi, mup, mum


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
        angles = kinematics.angles_from_four_vectors(parts[0], parts[1], parts[2], parts[3],
                                                     flavour[keep])
    else:
        true_tracks = tracks[:, keep]
        e_beam = beam.e_beam_cm - sigma_beam * normals[:, 12]
        smeared, mbc, delta_e = _smear_numpy(true_tracks, masses, normals, config, beam, e_beam)
        angles = kinematics.angles_from_four_vectors_numpy(*_per_particle(smeared), flavour[keep])

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
