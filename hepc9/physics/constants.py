"""Numbers of the physics model and the Wilson-coefficient shifts.

:class:`ModelConstants` holds every number of the seed generator model (basf2 ``BTOSLLNPR``,
physics.md §1.1, §3.4, §4.2, §5.1): masses, Standard-Model Wilson coefficients, quark masses of
the loop functions, electroweak constants and the BSZ-2015 form-factor coefficients with the
EvtGen pole masses.  ``SEED_MODEL = ModelConstants()`` is *the* model: ``δC = 0`` means exactly
these inputs.  :func:`model_constants` builds a variant from a mapping of overrides (the
``[physics] constants`` table of a run configuration).

:class:`WilsonShifts` is the point in new-physics space: real shifts of C7eff, C9eff, C10 and
the primed coefficients C7′, C9′, C10′, constant in q² (physics.md §5.1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.config.names import SHIFT_NAMES  # the one home of the shift names (bottom layer)
from hepc9.errors import ConfigError, DataError, did_you_mean

__all__ = [
    "HBAR_GEV_S",
    "SEED_MODEL",
    "SHIFT_NAMES",
    "ZERO_SHIFTS",
    "ModelConstants",
    "WilsonShifts",
    "model_constants",
    "q2_limits",
]

#: Reduced Planck constant in GeV·s (converts a lifetime in seconds to GeV⁻¹).
HBAR_GEV_S = 6.582119569e-25


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConstants:
    """Every number of the seed generator model (physics.md §1.1, §3.4, §4.2, §5).

    Masses are in GeV, the lifetime in seconds, the Fermi constant in GeV⁻².  Form-factor
    coefficients are named ``ff_<form factor>_a<k>`` for α_k of the BSZ expansion (§4.1).
    """

    # masses (§1.1; values of the basf2 particle table used by the seed generator)
    m_B0: float = 5.27965  # B0 mass
    m_kstar: float = 0.89555  # K*0(892) mass (narrow-width generation uses exactly this)
    gamma_kstar: float = 0.0473  # K*0(892) total width
    m_K: float = 0.493677  # charged kaon mass
    m_pi: float = 0.13957039  # charged pion mass
    m_mu: float = 0.1056584  # muon mass (basf2 value)
    kstar_radius: float = 3.0  # Blatt–Weisskopf radius of the K* decay vertex, GeV⁻¹ (§5.5)
    kstar_birth_radius: float = 1.0  # Blatt–Weisskopf radius of the B decay vertex, GeV⁻¹ (§5.5)

    # Wilson coefficients of the seed generator at μ = 4.8 GeV (§5.1)
    c1: float = -0.257
    c2: float = 1.009
    c3: float = -0.005
    c4: float = -0.078
    c5: float = 0.0
    c6: float = 0.001
    c7eff: float = -0.304  # effective dipole coefficient, q²-independent
    c9_sm: float = 4.211  # constant part of C9eff = c9_sm + Y(q²)
    c10_sm: float = -4.103
    c7p_sm: float = 0.0  # Standard-Model primed coefficients (zero in the seed generator)
    c9p_sm: float = 0.0
    c10p_sm: float = 0.0

    # quark masses and scale of the loop function Y(q²) and of the dipole terms (§5.2)
    m_b_quark: float = 4.8  # b mass in the dipole terms and in h(q², m_b)
    m_c: float = 1.3  # charm mass in h(q², m_c)
    mu: float = 4.8  # renormalisation scale of h(q², m)
    ms: float = 0.093  # strange mass (scalar operators only; unused without them)

    # electroweak inputs; they only set the absolute rate (§3.1)
    alpha_em: float = 1.0 / 133.0
    vtbvts: float = 0.0412  # |V_tb V_ts*|
    g_fermi: float = 1.1663788e-5  # GeV⁻²
    tau_b0: float = 1.519e-12  # B0 lifetime in seconds

    # BSZ-2015 form factors (§4.2; LCSR + lattice fit, file values as in EvtGen)
    ff_v_a0: float = 0.376313
    ff_v_a1: float = -1.16597
    ff_v_a2: float = 2.42443
    ff_a0_a0: float = 0.369196
    ff_a0_a1: float = -1.36584
    ff_a0_a2: float = 0.128191
    ff_a1_a0: float = 0.29725
    ff_a1_a1: float = 0.392378
    ff_a1_a2: float = 1.18916
    ff_a12_a0: float = 0.265375
    ff_a12_a1: float = 0.533638
    ff_a12_a2: float = 0.483166
    ff_t1_a0: float = 0.312055
    ff_t1_a1: float = -1.00893
    ff_t1_a2: float = 1.5272
    ff_t2_a0: float = 0.312055
    ff_t2_a1: float = 0.496846
    ff_t2_a2: float = 1.61431
    ff_t23_a0: float = 0.667412
    ff_t23_a1: float = 1.31812
    ff_t23_a2: float = 3.82334

    # form-factor pole masses (§4.1, EvtGen values): 0⁻ for A0, 1⁻ for V and T1,
    # 1⁺ for A1, A12, T2, T23
    m_pole_0m: float = 5.366
    m_pole_1m: float = 5.415
    m_pole_1p: float = 5.829

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"model constant '{f.name}' must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"model constant '{f.name}' must be finite, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        for name in (
            "m_B0",
            "m_kstar",
            "m_K",
            "m_pi",
            "m_mu",
            "m_b_quark",
            "m_c",
            "mu",
            "alpha_em",
            "g_fermi",
            "tau_b0",
            "m_pole_0m",
            "m_pole_1m",
            "m_pole_1p",
        ):
            if getattr(self, name) <= 0.0:
                raise ConfigError(
                    f"model constant '{name}' must be positive, got {getattr(self, name)!r}"
                )
        if self.m_B0 <= self.m_kstar + 2.0 * self.m_mu:
            raise ConfigError(
                f"m_B0 = {self.m_B0} leaves no phase space for m_kstar = {self.m_kstar} and "
                f"two muons of mass {self.m_mu}; check the mass overrides"
            )
        if self.m_kstar <= self.m_K + self.m_pi:
            raise ConfigError(
                f"m_kstar = {self.m_kstar} is below the K π threshold "
                f"{self.m_K + self.m_pi:.6f}; check the mass overrides"
            )

    def to_dict(self) -> dict[str, float]:
        """Return the constants as a plain ``{name: value}`` dictionary."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **overrides: float) -> ModelConstants:
        """Return a copy with some constants replaced (same checks as :func:`model_constants`)."""
        return model_constants(overrides, base=self)

    @property
    def hbar_tau(self) -> float:
        """B0 lifetime in natural units, GeV⁻¹ (τ / ħ)."""
        return self.tau_b0 / HBAR_GEV_S


#: The seed generator model; ``WilsonShifts()`` at these constants is "δC = 0".
SEED_MODEL = ModelConstants()

_CONSTANT_NAMES = tuple(f.name for f in dataclasses.fields(ModelConstants))


def model_constants(
    overrides: Mapping[str, float] | None = None, *, base: ModelConstants = SEED_MODEL
) -> ModelConstants:
    """Return the model constants with some values overridden.

    Parameters
    ----------
    overrides : mapping of str to float, optional
        New values keyed by :class:`ModelConstants` field names, e.g. ``{"c9_sm": 4.0}``.
    base : ModelConstants, optional
        Constants to start from (default :data:`SEED_MODEL`).

    Returns
    -------
    ModelConstants
        ``base`` with the overrides applied.

    Raises
    ------
    ConfigError
        For an unknown name (the closest valid name is suggested) or an invalid value.
    """
    if not overrides:
        return base
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            f"physics constants overrides must be a mapping of name to number, got "
            f"{type(overrides).__name__}"
        )
    for key in overrides:
        if key not in _CONSTANT_NAMES:
            hint = did_you_mean(key, _CONSTANT_NAMES)
            raise ConfigError(
                f"unknown physics constant '{key}' in [physics] constants{hint} "
                f"(valid names are the fields of hepc9.physics.constants.ModelConstants)"
            )
    return dataclasses.replace(base, **dict(overrides))


@dataclass(frozen=True, slots=True, kw_only=True)
class WilsonShifts:
    """Real, q²-independent shifts of the Wilson coefficients (physics.md §5.1).

    ``dc7``, ``dc9``, ``dc10`` are added to C7eff, C9eff and C10; ``c7p``, ``c9p``, ``c10p``
    are the primed (right-handed) coefficients added to their Standard-Model values.
    """

    dc7: float = 0.0
    dc9: float = 0.0
    dc10: float = 0.0
    c7p: float = 0.0
    c9p: float = 0.0
    c10p: float = 0.0

    def __post_init__(self) -> None:
        for name in SHIFT_NAMES:
            value = getattr(self, name)
            try:
                fvalue = float(value)
            except (TypeError, ValueError) as err:
                raise DataError(
                    f"Wilson shift {name} must be a real number, got {value!r}"
                ) from err
            if isinstance(value, bool) or not math.isfinite(fvalue):
                raise DataError(f"Wilson shift {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, fvalue)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> WilsonShifts:
        """Build shifts from a mapping, rejecting unknown names.

        Parameters
        ----------
        values : mapping of str to float, optional
            Shifts keyed by names in :data:`SHIFT_NAMES`; missing names are zero.

        Returns
        -------
        WilsonShifts
        """
        values = dict(values or {})
        for key in values:
            if key not in SHIFT_NAMES:
                hint = did_you_mean(key, SHIFT_NAMES)
                raise ConfigError(
                    f"unknown Wilson shift '{key}'{hint} (valid: {', '.join(SHIFT_NAMES)})"
                )
        return cls(**values)

    @classmethod
    def from_array(cls, values: Any) -> WilsonShifts:
        """Build shifts from a length-6 sequence ordered as :data:`SHIFT_NAMES`."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (len(SHIFT_NAMES),):
            raise DataError(
                f"Wilson shifts array must have shape ({len(SHIFT_NAMES)},), got {arr.shape}"
            )
        return cls(**dict(zip(SHIFT_NAMES, arr.tolist(), strict=True)))

    def to_dict(self) -> dict[str, float]:
        """Return ``{name: value}`` in the order of :data:`SHIFT_NAMES`."""
        return {name: getattr(self, name) for name in SHIFT_NAMES}

    def as_array(self) -> np.ndarray:
        """Return the shifts as a float64 array of shape (6,) ordered as :data:`SHIFT_NAMES`."""
        return np.array([getattr(self, name) for name in SHIFT_NAMES], dtype=np.float64)

    def with_(self, **shifts: float) -> WilsonShifts:
        """Return a copy with some shifts replaced (unknown names raise ConfigError)."""
        merged = self.to_dict()
        for key in shifts:
            if key not in SHIFT_NAMES:
                hint = did_you_mean(key, SHIFT_NAMES)
                raise ConfigError(
                    f"unknown Wilson shift '{key}'{hint} (valid: {', '.join(SHIFT_NAMES)})"
                )
        merged.update(shifts)
        return WilsonShifts(**merged)

    def is_zero(self) -> bool:
        """Return True when every shift is zero (the seed model itself)."""
        return not any(self.as_array())


#: The seed model point (all shifts zero); the default of every ``shifts=``/``at=`` argument.
ZERO_SHIFTS = WilsonShifts()


def q2_limits(
    constants: ModelConstants = SEED_MODEL, mkpi: float | np.ndarray | None = None
) -> tuple[Any, Any]:
    """Return the kinematic q² range, physics.md §1.2.

    Parameters
    ----------
    constants : ModelConstants, optional
        Model constants (masses of B0, K*, μ).
    mkpi : float or ndarray, optional
        K π invariant mass in GeV replacing m_K*; an array gives per-event upper limits.

    Returns
    -------
    q2_min : float
        4 m_μ², GeV².
    q2_max : float or ndarray
        (m_B − m_Kπ)², GeV² (same shape as ``mkpi`` when it is an array).
    """
    q2_min = 4.0 * constants.m_mu**2
    m_v = constants.m_kstar if mkpi is None else mkpi
    if isinstance(m_v, np.ndarray):
        return q2_min, (constants.m_B0 - m_v) ** 2
    return q2_min, (constants.m_B0 - float(m_v)) ** 2
