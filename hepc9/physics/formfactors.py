"""B → K* form factors in the BSZ-2015 parametrisation (physics.md §4).

Each form factor is ``F(q²) = P(q²)⁻¹ Σ_k α_k [z(q²) − z(0)]^k`` with a single pole
``P = 1 − q²/m_R²`` and the conformal variable ``z`` of §4.1.  The vector mass ``m_V`` enters
``t±`` and therefore ``z``; passing a per-event K π mass reproduces the seed generator, which
evaluates the form factors at the Breit–Wigner-distributed K* mass.
"""

from __future__ import annotations

import numpy as np

from hepc9.physics.constants import SEED_MODEL, ModelConstants

__all__ = ["FORM_FACTOR_NAMES", "a2_t3", "form_factors", "z_expansion"]

#: Form factors returned by :func:`form_factors`.
FORM_FACTOR_NAMES: tuple[str, ...] = ("V", "A0", "A1", "A12", "T1", "T2", "T23")

# (constants prefix, pole-mass field) per form factor
_SPEC = {
    "V": ("ff_v", "m_pole_1m"),
    "A0": ("ff_a0", "m_pole_0m"),
    "A1": ("ff_a1", "m_pole_1p"),
    "A12": ("ff_a12", "m_pole_1p"),
    "T1": ("ff_t1", "m_pole_1m"),
    "T2": ("ff_t2", "m_pole_1p"),
    "T23": ("ff_t23", "m_pole_1p"),
}


def z_expansion(q2: np.ndarray, m_b: float, m_v: np.ndarray | float) -> np.ndarray:
    """Return ``z(q²) − z(0)`` of physics.md §4.1.

    Parameters
    ----------
    q2 : ndarray
        q² in GeV² (any shape, float64).
    m_b : float
        Parent mass in GeV.
    m_v : float or ndarray
        Vector-meson mass in GeV (broadcast against ``q2``).

    Returns
    -------
    ndarray
        float64, broadcast shape of the inputs.
    """
    t_plus = (m_b + m_v) ** 2
    t_minus = (m_b - m_v) ** 2
    t_zero = t_plus * (1.0 - np.sqrt(1.0 - t_minus / t_plus))
    root0 = np.sqrt(t_plus - t_zero)
    root_q = np.sqrt(np.maximum(t_plus - q2, 0.0))
    root_zero = np.sqrt(t_plus)
    z_q = (root_q - root0) / (root_q + root0)
    z_0 = (root_zero - root0) / (root_zero + root0)
    return z_q - z_0


def form_factors(
    q2: np.ndarray | float,
    *,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> dict[str, np.ndarray]:
    """Return the seven independent B → K* form factors at ``q2``.

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV².
    constants : ModelConstants, optional
        Coefficients α_k, pole masses and the B and K* masses.
    mkpi : float or ndarray, optional
        K π mass replacing ``constants.m_kstar`` (broadcast against ``q2``).

    Returns
    -------
    dict of str to ndarray
        ``V A0 A1 A12 T1 T2 T23`` (dimensionless, float64, broadcast shape).
    """
    q2 = np.asarray(q2, dtype=np.float64)
    m_v = constants.m_kstar if mkpi is None else np.asarray(mkpi, dtype=np.float64)
    dz = z_expansion(q2, constants.m_B0, m_v)
    out = {}
    for name, (prefix, pole) in _SPEC.items():
        a0 = getattr(constants, prefix + "_a0")
        a1 = getattr(constants, prefix + "_a1")
        a2 = getattr(constants, prefix + "_a2")
        m_r = getattr(constants, pole)
        out[name] = (a0 + dz * (a1 + dz * a2)) / (1.0 - q2 / m_r**2)
    return out


def a2_t3(
    q2: np.ndarray | float,
    ff: dict[str, np.ndarray],
    *,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return A2 and T3 from A1, A12, T2 and T23 (physics.md §4.3).

    Both are 0/0-sensitive near q²_max (λ → 0); the amplitudes never need them.

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV².
    ff : dict
        Output of :func:`form_factors` at the same points.
    constants : ModelConstants, optional
        Masses.
    mkpi : float or ndarray, optional
        K π mass replacing ``constants.m_kstar``.

    Returns
    -------
    A2, T3 : ndarray
        float64, broadcast shape.
    """
    q2 = np.asarray(q2, dtype=np.float64)
    m_b = constants.m_B0
    m_v = constants.m_kstar if mkpi is None else np.asarray(mkpi, dtype=np.float64)
    lam = (m_b**2 - m_v**2 - q2) ** 2 - 4.0 * m_v**2 * q2
    a2 = (
        (m_b + m_v) ** 2 * (m_b**2 - m_v**2 - q2) * ff["A1"]
        - 16.0 * m_b * m_v**2 * (m_b + m_v) * ff["A12"]
    ) / lam
    t3 = (
        (m_b**2 - m_v**2) * (m_b**2 + 3.0 * m_v**2 - q2) * ff["T2"]
        - 8.0 * m_b * m_v**2 * (m_b - m_v) * ff["T23"]
    ) / lam
    return a2, t3
