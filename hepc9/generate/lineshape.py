"""K* line shape of the ``relbw`` option (physics.md §5.5): mass range and normalised density."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from hepc9.physics.constants import SEED_MODEL, ModelConstants

__all__ = ["relbw_line_shape", "relbw_mass_range"]

#: Lower and upper offsets of the Breit–Wigner mass range from m0 (physics.md §5.5).
_RELBW_LOW = 0.25
_RELBW_HIGH_WIDTHS = 15.0


def _lambda(a: Any, b: Any, c: Any) -> Any:
    """Källén function λ(a, b, c) = a² + b² + c² − 2ab − 2ac − 2bc."""
    return a * a + b * b + c * c - 2.0 * (a * b + a * c + b * c)


def relbw_mass_range(constants: ModelConstants = SEED_MODEL) -> tuple[float, float]:
    """Return the m(Kπ) range of the Breit–Wigner line shape, [m0 − 0.25, m0 + 15Γ0] GeV.

    Parameters
    ----------
    constants : ModelConstants, optional
        Uses ``m_kstar`` and ``gamma_kstar``.

    Returns
    -------
    tuple of float
        (m_lo, m_hi) in GeV (physics.md §5.5), the lower edge raised to the Kπ threshold if
        a mass override puts it below.
    """
    m0 = constants.m_kstar
    lo = max(m0 - _RELBW_LOW, constants.m_K + constants.m_pi + 1e-6)
    hi = min(m0 + _RELBW_HIGH_WIDTHS * constants.gamma_kstar, constants.m_B0 - 2.0 * constants.m_mu)
    return float(lo), float(hi)


def relbw_line_shape(mkpi: np.ndarray, *, constants: ModelConstants = SEED_MODEL) -> np.ndarray:
    """Normalised m(Kπ) density of the ``relbw`` option (physics.md §5.5), GeV⁻¹.

    |BW(m)|² ∝ 1 / ((m0² − m²)² + m0² Γ(m)²) with Γ(m) = Γ0 (p/p0)³ (m0/m)(1 + r²p0²)/(1 + r²p²),
    r = ``constants.kstar_radius``, times p(m) · p_B(m); p is the kaon momentum in the Kπ frame,
    p_B the Kπ momentum in the B frame at q² = 4m_μ².  Zero outside :func:`relbw_mass_range`.

    Parameters
    ----------
    mkpi : ndarray, shape (n,)
        K π invariant mass in GeV.
    constants : ModelConstants, optional
        Masses, width and radius.

    Returns
    -------
    ndarray, shape (n,)
        Density normalised to 1 over the mass range (float64).
    """
    return _line_shape_unnormalised(np.asarray(mkpi, dtype=np.float64), constants) / (
        _line_shape_norm(constants)
    )


def _line_shape_unnormalised(m: np.ndarray, c: ModelConstants) -> np.ndarray:
    m_lo, m_hi = relbw_mass_range(c)
    inside = (m >= m_lo) & (m <= m_hi)
    mm = np.where(inside, m, c.m_kstar)
    m0 = c.m_kstar
    r2 = c.kstar_radius**2

    def p_star(x: Any) -> Any:
        return np.sqrt(np.maximum(_lambda(x * x, c.m_K**2, c.m_pi**2), 0.0)) / (2.0 * x)

    p = p_star(mm)
    p0 = p_star(m0)
    width = c.gamma_kstar * (p / p0) ** 3 * (m0 / mm) * (1.0 + r2 * p0**2) / (1.0 + r2 * p**2)
    bw2 = 1.0 / ((m0 * m0 - mm * mm) ** 2 + m0 * m0 * width * width)
    q2_min = 4.0 * c.m_mu**2
    p_b = np.sqrt(np.maximum(_lambda(c.m_B0**2, mm * mm, q2_min), 0.0)) / (2.0 * c.m_B0)
    return np.where(inside, bw2 * p * p_b, 0.0)


@functools.lru_cache(maxsize=16)
def _line_shape_norm(constants: ModelConstants) -> float:
    from scipy.integrate import quad

    m_lo, m_hi = relbw_mass_range(constants)
    m0, g0 = constants.m_kstar, constants.gamma_kstar
    points = [x for x in (m0 - g0, m0, m0 + g0) if m_lo < x < m_hi]
    val, _ = quad(
        lambda x: float(_line_shape_unnormalised(np.array([x]), constants)[0]),
        m_lo,
        m_hi,
        points=points,
        epsabs=0.0,
        epsrel=1e-12,
        limit=400,
    )
    return float(val)
