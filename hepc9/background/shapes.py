"""Exact inverse-CDF samplers of the background shapes: ARGUS, linear, Legendre, cosine series."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.polynomial import legendre as npleg
from scipy import special

from hepc9.background.kernels import interp
from hepc9.errors import ConfigError

__all__ = [
    "argus_cdf",
    "cosine_cdf",
    "legendre_cdf",
    "linear_cdf",
    "sample_argus",
    "sample_cosine",
    "sample_legendre",
    "sample_linear",
]

_TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------------------------
# ARGUS
# --------------------------------------------------------------------------------------------


def _p32(y: np.ndarray) -> np.ndarray:
    """Regularised lower incomplete gamma function P(3/2, y) in closed form (y ≥ 0)."""
    y = np.maximum(np.asarray(y, dtype=np.float64), 0.0)
    root = np.sqrt(y)
    return special.erf(root) - (2.0 / math.sqrt(math.pi)) * root * np.exp(-y)


def _argus_check(c: float, m0: float, m_min: float) -> None:
    if not (math.isfinite(c) and c <= 0.0):
        raise ConfigError(f"ARGUS curvature c = {c} must be finite and <= 0 (physics.md §8)")
    if not 0.0 <= m_min < m0:
        raise ConfigError(
            f"ARGUS range [{m_min}, {m0}] GeV is empty; the lower Mbc edge must be below the "
            "endpoint E*_beam"
        )


def _argus_v_pieces(
    c: float, v_max: float
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """CDF and density of v = t^{3/2}, t = 1 − (m/m0)², on [0, v_max] (both smooth in v)."""
    if c == 0.0:
        return (lambda v: np.asarray(v) / v_max), (lambda v: np.full(np.shape(v), 1.0 / v_max))
    k = -c
    g_max = float(_p32(np.asarray(k * v_max ** (2.0 / 3.0))))
    dens = (2.0 / 3.0) * k**1.5 / special.gamma(1.5) / g_max

    def cdf(v: np.ndarray) -> np.ndarray:
        return _p32(k * np.cbrt(np.asarray(v)) ** 2) / g_max

    def pdf(v: np.ndarray) -> np.ndarray:
        return dens * np.exp(-k * np.cbrt(np.asarray(v)) ** 2)

    return cdf, pdf


def argus_cdf(m: np.ndarray | float, *, c: float, m0: float, m_min: float = 0.0) -> np.ndarray:
    """CDF of the ARGUS shape truncated to ``[m_min, m0]``.

    Parameters
    ----------
    m : array_like
        Mbc values in GeV.
    c : float
        Curvature (≤ 0) of ``exp[c (1 − (m/m0)²)]``.
    m0 : float
        Endpoint in GeV (E*_beam).
    m_min : float
        Lower truncation edge in GeV.

    Returns
    -------
    numpy.ndarray
        Probability ``P(Mbc ≤ m)``, float64, same shape as ``m``.
    """
    _argus_check(c, m0, m_min)
    m = np.clip(np.asarray(m, dtype=np.float64), m_min, m0)
    v_max = (1.0 - (m_min / m0) ** 2) ** 1.5
    cdf, _ = _argus_v_pieces(c, v_max)
    return 1.0 - cdf(np.maximum(1.0 - (m / m0) ** 2, 0.0) ** 1.5)


def sample_argus(
    n: int, *, c: float, m0: float, m_min: float = 0.0, rng: np.random.Generator
) -> np.ndarray:
    """Draw Mbc values from the truncated ARGUS shape by exact inversion.

    Parameters
    ----------
    n : int
        Number of values.
    c, m0, m_min : float
        As in :func:`argus_cdf`.
    rng : numpy.random.Generator
        Source of randomness (one uniform per value).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, float64, GeV, in ``[m_min, m0]``.
    """
    _argus_check(c, m0, m_min)
    u = rng.random(n)
    v_max = (1.0 - (m_min / m0) ** 2) ** 1.5
    cdf, pdf = _argus_v_pieces(c, v_max)
    v = _invert(u, cdf, pdf, 0.0, v_max)
    t = np.cbrt(v) ** 2
    return m0 * np.sqrt(np.clip(1.0 - t, 0.0, 1.0))


# --------------------------------------------------------------------------------------------
# linear densities
# --------------------------------------------------------------------------------------------


def _linear_check(slope: float, lo: float, hi: float, centre: float) -> None:
    if not lo < hi:
        raise ConfigError(f"linear density range [{lo}, {hi}] is empty")
    if min(1.0 + slope * (lo - centre), 1.0 + slope * (hi - centre)) < 0.0:
        raise ConfigError(
            f"linear density 1 + {slope}·(x − {centre}) is negative inside [{lo}, {hi}]; "
            "reduce |slope|"
        )


def linear_cdf(
    x: np.ndarray | float, *, slope: float, lo: float, hi: float, centre: float = 0.0
) -> np.ndarray:
    """CDF of the density ``∝ 1 + slope·(x − centre)`` on ``[lo, hi]``.

    Parameters
    ----------
    x : array_like
        Points (same unit as ``lo``, ``hi``).
    slope : float
        Slope in inverse units of ``x``.
    lo, hi, centre : float
        Range and the reference point of the slope.

    Returns
    -------
    numpy.ndarray
        ``P(X ≤ x)``, float64.
    """
    _linear_check(slope, lo, hi, centre)
    x = np.clip(np.asarray(x, dtype=np.float64), lo, hi)

    def primitive(v: np.ndarray | float) -> np.ndarray:
        w = np.asarray(v) - centre
        return w + 0.5 * slope * w * w

    return (primitive(x) - primitive(lo)) / (primitive(hi) - primitive(lo))


def sample_linear(
    n: int,
    *,
    slope: float,
    lo: float,
    hi: float,
    centre: float = 0.0,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw from the density ``∝ 1 + slope·(x − centre)`` on ``[lo, hi]`` by exact inversion.

    Parameters
    ----------
    n : int
        Number of values.
    slope, lo, hi, centre : float
        As in :func:`linear_cdf`.
    rng : numpy.random.Generator
        Source of randomness (one uniform per value).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, float64.
    """
    _linear_check(slope, lo, hi, centre)
    u = rng.random(n)
    a, b = lo - centre, hi - centre
    norm = (b - a) + 0.5 * slope * (b * b - a * a)
    k = a + 0.5 * slope * a * a + u * norm
    # w solves slope/2·w² + w − k = 0; the rationalised root is stable for slope → 0
    w = 2.0 * k / (1.0 + np.sqrt(np.maximum(1.0 + 2.0 * slope * k, 0.0)))
    return np.clip(centre + w, lo, hi)


# --------------------------------------------------------------------------------------------
# Legendre and cosine series
# --------------------------------------------------------------------------------------------


def _series(coefficients: Sequence[float]) -> np.ndarray:
    return np.concatenate([[1.0], np.asarray(coefficients, dtype=np.float64)])


def _legendre_pieces(
    coefficients: Sequence[float],
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    series = _series(coefficients)
    primitive = npleg.legint(series, lbnd=-1.0)  # zero at x = -1; total integral is 2

    def cdf(x: np.ndarray) -> np.ndarray:
        return npleg.legval(x, primitive) / 2.0

    def pdf(x: np.ndarray) -> np.ndarray:
        return npleg.legval(x, series) / 2.0

    return cdf, pdf


def _cosine_pieces(
    coefficients: Sequence[float],
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    a = [float(v) for v in coefficients]

    def cdf(chi: np.ndarray) -> np.ndarray:
        chi = np.asarray(chi, dtype=np.float64)
        total = chi.copy()
        for order, coef in enumerate(a, start=1):
            if coef:
                total += (coef / order) * np.sin(order * chi)
        return total / _TWO_PI

    def pdf(chi: np.ndarray) -> np.ndarray:
        chi = np.asarray(chi, dtype=np.float64)
        total = np.ones_like(chi)
        for order, coef in enumerate(a, start=1):
            if coef:
                total += coef * np.cos(order * chi)
        return total / _TWO_PI

    return cdf, pdf


def _check_positive(pdf: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, what: str,
                    coefficients: Sequence[float]) -> None:
    grid = np.linspace(lo, hi, 4001)
    if np.min(pdf(grid)) < 0.0:
        raise ConfigError(
            f"{what} coefficients {list(coefficients)} give a negative density; reduce them"
        )


def _invert(
    u: np.ndarray,
    cdf: Callable[[np.ndarray], np.ndarray],
    pdf: Callable[[np.ndarray], np.ndarray],
    lo: float,
    hi: float,
    *,
    table: int = 2049,
    newton_steps: int = 2,
) -> np.ndarray:
    """Solve ``cdf(x) = u`` on ``[lo, hi]``: table interpolation, then guarded Newton steps."""
    grid = np.linspace(lo, hi, table)
    values = np.maximum.accumulate(cdf(grid))
    x = interp(u, values, grid)  # numpy.interp bit for bit, O(1) cell search
    for _ in range(newton_steps):
        density = pdf(x)
        ok = density > 1e-12
        step = np.where(ok, (cdf(x) - u) / np.where(ok, density, 1.0), 0.0)
        # never let a Newton step leave the bracketing table cell's neighbourhood
        step = np.clip(step, -(hi - lo) / (table - 1), (hi - lo) / (table - 1))
        x = np.clip(x - step, lo, hi)
    return x


def legendre_cdf(x: np.ndarray | float, coefficients: Sequence[float]) -> np.ndarray:
    """CDF of the density ``(1 + Σ_n c_n P_n(x)) / 2`` on ``[−1, 1]``.

    Parameters
    ----------
    x : array_like
        Points in ``[−1, 1]`` (clipped).
    coefficients : sequence of float
        ``c_1, c_2, ...``.

    Returns
    -------
    numpy.ndarray
        ``P(X ≤ x)``, float64.
    """
    cdf, _ = _legendre_pieces(coefficients)
    return cdf(np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0))


def sample_legendre(
    n: int, coefficients: Sequence[float], *, rng: np.random.Generator
) -> np.ndarray:
    """Draw from ``(1 + Σ_n c_n P_n(x)) / 2`` on ``[−1, 1]`` by inverting its CDF.

    Parameters
    ----------
    n : int
        Number of values.
    coefficients : sequence of float
        ``c_1, c_2, ...``; the density must be non-negative.
    rng : numpy.random.Generator
        Source of randomness (one uniform per value).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, float64, in ``[−1, 1]``.
    """
    cdf, pdf = _legendre_pieces(coefficients)
    _check_positive(pdf, -1.0, 1.0, "Legendre", coefficients)
    return _invert(rng.random(n), cdf, pdf, -1.0, 1.0)


def cosine_cdf(chi: np.ndarray | float, coefficients: Sequence[float]) -> np.ndarray:
    """CDF of the density ``(1 + Σ_n a_n cos nχ) / 2π`` on ``[0, 2π)``.

    Parameters
    ----------
    chi : array_like
        Angles in rad (clipped to ``[0, 2π]``).
    coefficients : sequence of float
        ``a_1, a_2, ...``.

    Returns
    -------
    numpy.ndarray
        ``P(Χ ≤ χ)``, float64.
    """
    cdf, _ = _cosine_pieces(coefficients)
    return cdf(np.clip(np.asarray(chi, dtype=np.float64), 0.0, _TWO_PI))


def sample_cosine(n: int, coefficients: Sequence[float], *, rng: np.random.Generator) -> np.ndarray:
    """Draw χ from ``(1 + Σ_n a_n cos nχ) / 2π`` on ``[0, 2π)`` by inverting its CDF.

    Parameters
    ----------
    n : int
        Number of values.
    coefficients : sequence of float
        ``a_1, a_2, ...``; the density must be non-negative.
    rng : numpy.random.Generator
        Source of randomness (one uniform per value).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, float64, rad, in ``[0, 2π)``.
    """
    cdf, pdf = _cosine_pieces(coefficients)
    _check_positive(pdf, 0.0, _TWO_PI, "cosine", coefficients)
    chi = _invert(rng.random(n), cdf, pdf, 0.0, _TWO_PI)
    return np.where(chi >= _TWO_PI, 0.0, chi)
