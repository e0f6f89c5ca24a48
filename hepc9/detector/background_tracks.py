"""Track selection of combinatorial background candidates (:func:`accept_background`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from hepc9 import kinematics
from hepc9.config import DetectorConfig
from hepc9.detector.columns import _PARTICLES, BACKGROUND_INPUT_COLUMNS, _flavour
from hepc9.detector.geometry import _geometry_kernel, _geometry_numpy, _geometry_params
from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.physics.constants import SEED_MODEL, ModelConstants

__all__ = ["accept_background"]


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
