"""Transversity amplitudes of B0 → K*0 μ+ μ− (physics.md §3.2, §3.1, §6.2).

Every amplitude is *linear and homogeneous* in the six coefficients
``C = (C7eff, C9eff, C10, C7′, C9′, C10′)``:

    A⊥^{L,R} = K⊥9 [(C9 + C9′) ∓ (C10 + C10′)] + K⊥7 (C7 + C7′)
    A∥^{L,R} = K∥9 [(C9 − C9′) ∓ (C10 − C10′)] + K∥7 (C7 − C7′)
    A0^{L,R} = K09 [(C9 − C9′) ∓ (C10 − C10′)] + K07 (C7 − C7′)
    At       = Kt (C10 − C10′)

with kernels ``K`` built from N(q²), √λ and the form factors (A0 in its A12/T23 form, which is
stable at q²_max).  :func:`amplitude_basis` uses this to return the amplitudes at a base point
together with their exact derivatives with respect to any subset of the real shifts, which
is what makes the rate an exact quadratic form (§6.2).

Amplitudes are stacked along the first axis in the order of :data:`AMPLITUDE_NAMES`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepc9.errors import ConfigError, did_you_mean
from hepc9.physics.constants import (
    SEED_MODEL,
    SHIFT_NAMES,
    ZERO_SHIFTS,
    ModelConstants,
    WilsonShifts,
)
from hepc9.physics.formfactors import form_factors
from hepc9.physics.wilson import c9_effective

__all__ = [
    "AMPLITUDE_NAMES",
    "amplitude_basis",
    "amplitude_kernels",
    "check_params",
    "kinematic_factors",
    "normalisation_squared",
    "transversity_amplitudes",
]

#: Order of the amplitudes along the first axis of the stacked arrays.
AMPLITUDE_NAMES: tuple[str, ...] = ("perp_L", "para_L", "zero_L", "perp_R", "para_R", "zero_R", "t")

_SQRT2 = np.sqrt(2.0)


def kinematic_factors(
    q2: np.ndarray, *, constants: ModelConstants = SEED_MODEL, mkpi: np.ndarray | float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the physical-region mask, λ, β_ℓ² and 4m_ℓ²/q² at ``q2``.

    Parameters
    ----------
    q2 : ndarray
        q² in GeV² (float64).
    constants : ModelConstants, optional
        Masses.
    mkpi : float or ndarray or None
        K π mass replacing m_K*.

    Returns
    -------
    inside : ndarray of bool
        True strictly inside (4m_μ², (m_B − m_V)²).
    lam : ndarray
        Källén λ(m_B², m_V², q²), clipped at 0 (GeV⁴).
    beta2 : ndarray
        1 − 4m_μ²/q², clipped at 0.
    mass_term : ndarray
        4m_μ²/q² (1 outside the region).
    """
    m_b = constants.m_B0
    m_v = constants.m_kstar if mkpi is None else np.asarray(mkpi, dtype=np.float64)
    q2_min = 4.0 * constants.m_mu**2
    q2_max = (m_b - m_v) ** 2
    inside = (q2 > q2_min) & (q2 < q2_max) & np.isfinite(q2)
    q2s = np.where(inside, q2, 0.5 * (q2_min + q2_max))
    lam = np.maximum((m_b**2 - m_v**2 - q2s) ** 2 - 4.0 * m_v**2 * q2s, 0.0)
    mass_term = q2_min / q2s
    beta2 = np.maximum(1.0 - mass_term, 0.0)
    return inside, lam, beta2, mass_term


def normalisation_squared(
    q2: np.ndarray, lam: np.ndarray, beta2: np.ndarray, *, constants: ModelConstants = SEED_MODEL
) -> np.ndarray:
    """Return |N(q²)|² of physics.md §3.1 in GeV⁻⁴ (times GeV⁻¹ from the phase space).

    Parameters
    ----------
    q2, lam, beta2 : ndarray
        q² (GeV²), λ (GeV⁴) and β_ℓ² at the same points.
    constants : ModelConstants, optional
        G_F, α_em, |V_tb V_ts*| and m_B.

    Returns
    -------
    ndarray
        float64, broadcast shape.
    """
    c = constants
    return (
        c.vtbvts**2
        * c.g_fermi**2
        * c.alpha_em**2
        * q2
        * np.sqrt(lam)
        * np.sqrt(beta2)
        / (3.0 * 2.0**10 * np.pi**5 * c.m_B0**3)
    )


def amplitude_kernels(
    q2: np.ndarray,
    lam: np.ndarray,
    *,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> dict[str, np.ndarray]:
    """Return the kernels K of the amplitudes with N = 1 (module docstring).

    Parameters
    ----------
    q2 : ndarray
        q² in GeV², inside the physical region (float64).
    lam : ndarray
        λ(m_B², m_V², q²) at the same points.
    constants : ModelConstants, optional
        Masses, m_b and form-factor coefficients.
    mkpi : float or ndarray, optional
        K π mass replacing m_K*.

    Returns
    -------
    dict of str to ndarray
        ``perp9 perp7 para9 para7 zero9 zero7 t`` (float64).
    """
    m_b = constants.m_B0
    m_v = constants.m_kstar if mkpi is None else np.asarray(mkpi, dtype=np.float64)
    mbq = constants.m_b_quark
    ff = form_factors(q2, constants=constants, mkpi=mkpi)
    sqrt_lam = np.sqrt(lam)
    sqrt_q2 = np.sqrt(q2)
    return {
        "perp9": _SQRT2 * sqrt_lam * ff["V"] / (m_b + m_v),
        "perp7": _SQRT2 * sqrt_lam * (2.0 * mbq / q2) * ff["T1"],
        "para9": -_SQRT2 * (m_b**2 - m_v**2) * ff["A1"] / (m_b - m_v),
        "para7": -_SQRT2 * (m_b**2 - m_v**2) * (2.0 * mbq / q2) * ff["T2"],
        "zero9": -8.0 * m_b * m_v * ff["A12"] / sqrt_q2,
        "zero7": -8.0 * m_b * m_v * mbq * ff["T23"] / ((m_b + m_v) * sqrt_q2),
        "t": 2.0 * sqrt_lam * ff["A0"] / sqrt_q2,
    }


def _amplitudes_from_coefficients(
    k: dict[str, np.ndarray],
    c7: np.ndarray | complex,
    c9: np.ndarray | complex,
    c10: np.ndarray | complex,
    c7p: np.ndarray | complex,
    c9p: np.ndarray | complex,
    c10p: np.ndarray | complex,
) -> np.ndarray:
    """Stack the seven amplitudes (linear in the coefficients), shape (7, ...) complex128."""
    c9_plus, c10_plus, c7_plus = c9 + c9p, c10 + c10p, c7 + c7p
    c9_minus, c10_minus, c7_minus = c9 - c9p, c10 - c10p, c7 - c7p
    perp_l = k["perp9"] * (c9_plus - c10_plus) + k["perp7"] * c7_plus
    perp_r = k["perp9"] * (c9_plus + c10_plus) + k["perp7"] * c7_plus
    para_l = k["para9"] * (c9_minus - c10_minus) + k["para7"] * c7_minus
    para_r = k["para9"] * (c9_minus + c10_minus) + k["para7"] * c7_minus
    zero_l = k["zero9"] * (c9_minus - c10_minus) + k["zero7"] * c7_minus
    zero_r = k["zero9"] * (c9_minus + c10_minus) + k["zero7"] * c7_minus
    amp_t = k["t"] * c10_minus
    shape = np.broadcast(perp_l, para_l, zero_l, perp_r, para_r, zero_r, amp_t).shape
    out = np.empty((7, *shape), dtype=np.complex128)
    for i, a in enumerate((perp_l, para_l, zero_l, perp_r, para_r, zero_r, amp_t)):
        out[i] = a
    return out


def check_params(params: Sequence[str]) -> tuple[str, ...]:
    """Validate a tuple of shift names for the quadratic decomposition.

    Parameters
    ----------
    params : sequence of str
        Names from :data:`hepc9.physics.constants.SHIFT_NAMES`, no duplicates.

    Returns
    -------
    tuple of str

    Raises
    ------
    ConfigError
        Unknown (with closest match) or repeated names.
    """
    if isinstance(params, str):
        params = (params,)
    params = tuple(params)
    for p in params:
        if p not in SHIFT_NAMES:
            hint = did_you_mean(p, SHIFT_NAMES)
            raise ConfigError(
                f"unknown Wilson-coefficient parameter '{p}'{hint} "
                f"(valid: {', '.join(SHIFT_NAMES)})"
            )
    if len(set(params)) != len(params):
        raise ConfigError(f"Wilson-coefficient parameters must be distinct, got {params}")
    return params


def _coefficients(
    q2: np.ndarray, shifts: WilsonShifts, constants: ModelConstants
) -> tuple[np.ndarray | complex, ...]:
    c = constants
    return (
        c.c7eff + shifts.dc7,
        c9_effective(q2, constants=c) + shifts.dc9,
        c.c10_sm + shifts.dc10,
        c.c7p_sm + shifts.c7p,
        c.c9p_sm + shifts.c9p,
        c.c10p_sm + shifts.c10p,
    )


def amplitude_basis(
    q2: np.ndarray | float,
    *,
    params: Sequence[str] = (),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the amplitudes at ``at`` and their derivatives with respect to ``params``.

    Amplitudes are computed with N = 1; multiply bilinears by |N|² (also returned).

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV² (any shape ``s``).
    params : sequence of str, optional
        Real shifts to differentiate with respect to (names from ``SHIFT_NAMES``).
    at : WilsonShifts, optional
        Base point.
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass replacing m_K* (broadcast against ``q2``).

    Returns
    -------
    basis : ndarray
        complex128, shape (k+1, 7, *s): index 0 the amplitudes at ``at``, index j the exact
        derivative with respect to ``params[j-1]`` (amplitudes are linear in the shifts).
        Zero outside the physical region.
    norm2 : ndarray
        |N(q²)|², shape ``s`` (zero outside the physical region).
    beta2, mass_term : ndarray
        β_ℓ² and 4m_μ²/q², shape ``s``.
    """
    params = check_params(params)
    q2 = np.asarray(q2, dtype=np.float64)
    if mkpi is not None:
        mkpi = np.asarray(mkpi, dtype=np.float64)
        q2, mkpi = np.broadcast_arrays(q2, mkpi)
    inside, lam, beta2, mass_term = kinematic_factors(q2, constants=constants, mkpi=mkpi)
    m_v = constants.m_kstar if mkpi is None else mkpi
    q2s = np.where(inside, q2, 0.5 * (4.0 * constants.m_mu**2 + (constants.m_B0 - m_v) ** 2))
    kern = amplitude_kernels(q2s, lam, constants=constants, mkpi=mkpi)
    coeffs = _coefficients(q2s, at, constants)
    out = np.empty((len(params) + 1, 7, *q2.shape), dtype=np.complex128)
    out[0] = _amplitudes_from_coefficients(kern, *coeffs)
    for j, p in enumerate(params, start=1):
        unit = [0.0] * 6
        unit[SHIFT_NAMES.index(p)] = 1.0
        out[j] = _amplitudes_from_coefficients(kern, *unit)
    out *= inside
    norm2 = np.where(inside, normalisation_squared(q2s, lam, beta2, constants=constants), 0.0)
    return out, norm2, np.where(inside, beta2, 0.0), np.where(inside, mass_term, 1.0)


def transversity_amplitudes(
    q2: np.ndarray | float,
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
    normalised: bool = True,
) -> dict[str, np.ndarray]:
    """Return the seven transversity amplitudes (physics.md §3.2).

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV².
    shifts : WilsonShifts, optional
        New-physics point.
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass replacing m_K*.
    normalised : bool, optional
        Include N(q²) (default); ``False`` gives the N = 1 values of physics.md §9.

    Returns
    -------
    dict of str to ndarray
        Keys :data:`AMPLITUDE_NAMES`, complex128 arrays of the shape of ``q2``; zero
        outside the physical region.
    """
    basis, norm2, _, _ = amplitude_basis(q2, at=shifts, constants=constants, mkpi=mkpi)
    amps = basis[0]
    if normalised:
        amps = amps * np.sqrt(norm2)
    return {name: amps[i] for i, name in enumerate(AMPLITUDE_NAMES)}
