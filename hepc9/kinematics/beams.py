"""The beam configuration (:class:`BeamSpec`, :data:`BELLE2`), beam four-momenta, lab → CM boost.

The numbers of :data:`BELLE2` and their sources are in the docstring of :mod:`hepc9.kinematics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import overload

import numpy as np

from hepc9.errors import ConfigError, DataError
from hepc9.kinematics.boosts import M_B0, _mass, boost

__all__ = ["BELLE2", "M_ELECTRON", "BeamSpec", "lab_to_cm"]

#: Electron mass in GeV (PDG, physics.md §1.1); only used for the beam four-vectors.
M_ELECTRON = 0.00051099895


# ----------------------------------------------------------------------------------------
# Beam
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BeamSpec:
    """Energies and geometry of the two colliding beams.

    The beams cross in the horizontal (x–z) plane: the e− beam (HER) moves along
    ``(sin a, 0, cos a)`` and the e+ beam (LER) along ``(sin a, 0, −cos a)`` with
    ``a = crossing_angle / 2``, as in basf2 (HER at angle ``+a`` to the z axis, LER at
    ``π − a``).

    Parameters
    ----------
    e_her : float
        Energy of the e− (high-energy ring) beam in GeV.
    e_ler : float
        Energy of the e+ (low-energy ring) beam in GeV.
    crossing_angle : float
        Full horizontal crossing angle between the two beams in rad.
    sigma_e_her, sigma_e_ler : float
        Gaussian beam-energy spreads (absolute, GeV), used by :func:`to_lab` with
        ``energy_spread=True``.
    """

    #: HER (e−) energy [GeV]: basf2 ``Y4S`` preset, nominal 7.0 GeV scaled to √s = m(Υ(4S)).
    e_her: float = 7.004
    #: LER (e+) energy [GeV]: basf2 ``Y4S`` preset, nominal 4.0 GeV scaled to √s = m(Υ(4S)).
    e_ler: float = 4.002
    #: Full crossing angle [rad]: SuperKEKB nano-beam scheme, 2 × 41.5 mrad (basf2 ``SuperKEKB``).
    crossing_angle: float = 0.083
    #: HER energy spread [GeV] (basf2 ``SuperKEKB`` preset, ``covHER``).
    sigma_e_her: float = 0.00513
    #: LER energy spread [GeV] (basf2 ``SuperKEKB`` preset, ``covLER``).
    sigma_e_ler: float = 0.002375

    def __post_init__(self) -> None:
        for name in ("e_her", "e_ler", "crossing_angle", "sigma_e_her", "sigma_e_ler"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ConfigError(f"BeamSpec.{name} must be finite, got {value!r}")
        for name in ("e_her", "e_ler"):
            if getattr(self, name) <= M_ELECTRON:
                raise ConfigError(
                    f"BeamSpec.{name} = {getattr(self, name)!r} GeV is not above the electron "
                    "mass; give the beam energy in GeV"
                )
        if not 0.0 <= self.crossing_angle < math.pi:
            raise ConfigError(
                f"BeamSpec.crossing_angle = {self.crossing_angle!r} rad is outside [0, π); "
                "give the full crossing angle in rad (Belle II: 0.083)"
            )
        for name in ("sigma_e_her", "sigma_e_ler"):
            if getattr(self, name) < 0.0:
                raise ConfigError(f"BeamSpec.{name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def her_p4(self) -> np.ndarray:
        """Lab four-momentum of the e− beam, shape (4,), GeV."""
        return _beam_p4(np.asarray(self.e_her), self.crossing_angle, +1.0)

    @property
    def ler_p4(self) -> np.ndarray:
        """Lab four-momentum of the e+ beam, shape (4,), GeV."""
        return _beam_p4(np.asarray(self.e_ler), self.crossing_angle, -1.0)

    @property
    def p4(self) -> np.ndarray:
        """Lab four-momentum of the e+e− system, shape (4,), GeV."""
        return self.her_p4 + self.ler_p4

    @property
    def sqrt_s(self) -> float:
        """Centre-of-mass energy √s in GeV."""
        return float(_mass(self.p4[None, :])[0])

    @property
    def e_beam_cm(self) -> float:
        """Beam energy in the centre-of-mass frame, E*_beam = √s/2, in GeV."""
        return 0.5 * self.sqrt_s

    @property
    def boost_vector(self) -> np.ndarray:
        """Velocity β of the centre-of-mass frame in the lab, shape (3,) (CM → lab boost)."""
        p = self.p4
        return p[1:] / p[0]

    def b_momentum_cm(self, m_b: float = M_B0) -> float:
        """Momentum p* of each B of Υ(4S) → B B̄ in the centre-of-mass frame, in GeV.

        Parameters
        ----------
        m_b : float
            B mass in GeV.

        Returns
        -------
        float
            p* = √(E*_beam² − m_B²).
        """
        e = self.e_beam_cm
        if e < m_b:
            raise DataError(
                f"√s/2 = {e:.5f} GeV is below the B mass {m_b} GeV: beams of {self.e_her} and "
                f"{self.e_ler} GeV cannot produce a B pair; raise the beam energies"
            )
        return math.sqrt((e - m_b) * (e + m_b))


#: SuperKEKB / Belle II at the Υ(4S) (see the module docstring for the sources).
BELLE2 = BeamSpec()


def _beam_p4(energy: np.ndarray, crossing_angle: float, direction: float) -> np.ndarray:
    """Four-momenta of beam particles; ``direction`` +1 for the HER, −1 for the LER."""
    energy = np.asarray(energy, dtype=np.float64)
    p = np.sqrt((energy - M_ELECTRON) * (energy + M_ELECTRON))
    half = 0.5 * crossing_angle
    out = np.empty((*energy.shape, 4))
    out[..., 0] = energy
    out[..., 1] = p * math.sin(half)
    out[..., 2] = 0.0
    out[..., 3] = direction * p * math.cos(half)
    return out


@overload
def lab_to_cm(p4: np.ndarray, beam: BeamSpec = ...) -> np.ndarray: ...
@overload
def lab_to_cm(p4: Mapping[str, np.ndarray], beam: BeamSpec = ...) -> dict[str, np.ndarray]: ...
def lab_to_cm(
    p4: np.ndarray | Mapping[str, np.ndarray], beam: BeamSpec = BELLE2
) -> np.ndarray | dict[str, np.ndarray]:
    """Transform lab four-momenta into the nominal e+e− centre-of-mass frame.

    Parameters
    ----------
    p4 : ndarray, shape (n, 4), or dict of such arrays
        Lab four-momenta in GeV.
    beam : BeamSpec
        Beam description (default :data:`BELLE2`).

    Returns
    -------
    ndarray, shape (n, 4), or dict of such arrays
        Same structure as ``p4``, in the centre-of-mass frame (used for M_bc and ΔE,
        physics.md §8).
    """
    beta = -beam.boost_vector
    if isinstance(p4, Mapping):
        return {key: boost(value, beta) for key, value in p4.items()}
    return boost(p4, beta)
