"""Resolution and identification parametrisations in numpy (also used by plots and tests)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hepc9 import kinematics
from hepc9.config import DetectorConfig
from hepc9.detector.columns import _KLM_BARREL_DEG

__all__ = ["beam_energy_spread", "kaon_id_efficiency", "muon_id_efficiency", "pt_resolution"]


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


def muon_id_efficiency(p: np.ndarray, theta: np.ndarray, config: DetectorConfig) -> np.ndarray:
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


def kaon_id_efficiency(p: np.ndarray, theta: np.ndarray, config: DetectorConfig) -> np.ndarray:
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
