"""Combinatorial B B̄ background: native detector-level columns drawn from smooth shapes.

Every variable is drawn independently by an exact inverse-CDF method (physics.md §8):

* **Mbc**: ARGUS shape ``m √(1 − (m/m0)²) exp[c (1 − (m/m0)²)]`` (RooArgusBG, power ½) with
  endpoint ``m0 = E*_beam = √s/2`` of the beam, truncated to ``[mbc_min, m0]``.  With
  ``t = 1 − (m/m0)²`` the density becomes ``√t e^{c t}``, a Gamma(3/2) distribution of rate
  ``−c`` truncated to ``t ≤ 1 − (mbc_min/m0)²``, which is inverted with the regularised
  incomplete gamma function.  ``scipy.stats.argus(χ, scale=m0)`` is the same shape with
  ``c = −χ²/2``.
* **ΔE** and **m(Kπ)**: linear densities ``1 + slope·(x − x0)`` (x0 = 0 for ΔE, the middle of the
  range for m(Kπ)); the quadratic CDF is inverted in closed form.
* **q², cos θℓ, cos θK**: ``1 + Σ c_n P_n(x)`` (Legendre series, x ∈ [−1, 1]; q² mapped linearly
  from the narrow-K* kinematic range of physics.md §1.2), **χ**: ``1 + Σ a_n cos(nχ)``.  Their
  CDFs are inverted by interpolation in a fine table followed by Newton steps (exact to
  rounding).
* ``flavour`` is ±1 with probability ½ each; ``is_signal = 0``; every ``<name>_true`` is NaN.

Yield: for a background fraction f in the signal region and ``n_sig`` signal events there,
``n_bkg(SR) = f/(1 − f) · n_sig``; since the background is generated over the whole
Mbc × ΔE × m(Kπ) region of :class:`hepc9.config.BackgroundConfig` (so that the sideband gets its
ARGUS share), the number to generate is ``n_bkg(SR) / P(SR)`` with the exact probability
content ``P(SR)`` of the signal region under the shapes (:func:`background_yield`).

The shapes describe candidates *before* the track selection: combinatorial candidates are made
of real tracks, which pass the same acceptance, momentum thresholds and identification as the
signal's.  Detector-level samples therefore keep only the candidates accepted by
:func:`hepc9.detector.accept_background` (applied by the callers, :mod:`hepc9.pipeline.simulate`,
:mod:`hepc9.pipeline.detector_sets` and :mod:`hepc9.datasets.build`), which keeps about half of
them and removes large ``|cos θℓ|`` at low q² as for the signal; the callers draw until the
wanted number of accepted signal-region candidates is reached.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.polynomial import legendre as npleg
from scipy import special

from hepc9.config import BackgroundConfig, SelectionConfig
from hepc9.errors import ConfigError, DataError
from hepc9.physics.constants import SEED_MODEL, ModelConstants, q2_limits

__all__ = [
    "BACKGROUND_COLUMNS",
    "argus_cdf",
    "background_yield",
    "cosine_cdf",
    "generate_background",
    "legendre_cdf",
    "linear_cdf",
    "region_fraction",
    "sample_argus",
    "sample_cosine",
    "sample_legendre",
    "sample_linear",
]

#: Columns of :func:`generate_background` output (plus a ``_true`` NaN copy of the kinematic ones).
BACKGROUND_COLUMNS = (
    "q2",
    "costheta_l",
    "costheta_k",
    "chi",
    "mkpi",
    "flavour",
    "mbc",
    "delta_e",
    "is_signal",
)
_KINEMATIC = ("q2", "costheta_l", "costheta_k", "chi", "mkpi")
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
    x = np.interp(u, values, grid)
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


# --------------------------------------------------------------------------------------------
# yield and generation
# --------------------------------------------------------------------------------------------


def _endpoint(beam: Any) -> float:
    try:
        return float(beam.e_beam_cm)
    except AttributeError:
        raise ConfigError(
            f"beam {beam!r} has no e_beam_cm; pass a hepc9.kinematics.BeamSpec"
        ) from None


def region_fraction(
    config: BackgroundConfig,
    *,
    beam: Any,
    mbc: tuple[float, float] | None = None,
    delta_e: tuple[float, float] | None = None,
    mkpi: tuple[float, float] | None = None,
) -> float:
    """Return the probability content of a box in (Mbc, ΔE, m(Kπ)) under the background shapes.

    Parameters
    ----------
    config : BackgroundConfig
        Background shapes and generation region.
    beam : BeamSpec
        Beam; its ``e_beam_cm`` is the ARGUS endpoint.
    mbc, delta_e, mkpi : (float, float), optional
        Box edges in GeV; ``None`` means the whole generation range of that variable.

    Returns
    -------
    float
        Fraction of the generated background inside the box (the angular variables are
        integrated over their full ranges).
    """
    m0 = _endpoint(beam)
    frac = 1.0
    if mbc is not None:
        lo, hi = mbc
        cdf = argus_cdf(np.array([lo, hi]), c=config.argus_c, m0=m0, m_min=config.mbc_min)
        frac *= max(float(cdf[1] - cdf[0]), 0.0)
    if delta_e is not None:
        d_lo, d_hi = config.delta_e_range
        cdf = linear_cdf(np.array(delta_e), slope=config.delta_e_slope, lo=d_lo, hi=d_hi)
        frac *= max(float(cdf[1] - cdf[0]), 0.0)
    if mkpi is not None:
        k_lo, k_hi = config.mkpi_range
        cdf = linear_cdf(
            np.array(mkpi), slope=config.mkpi_slope, lo=k_lo, hi=k_hi, centre=0.5 * (k_lo + k_hi)
        )
        frac *= max(float(cdf[1] - cdf[0]), 0.0)
    return frac


def background_yield(
    n_signal_region: int,
    *,
    fraction: float,
    config: BackgroundConfig,
    selection: SelectionConfig,
    beam: Any,
) -> int:
    """Return how many background events to generate over the whole background region.

    Parameters
    ----------
    n_signal_region : int
        Signal events in the signal region (after the K* window).
    fraction : float
        Wanted background fraction f ∈ [0, 1) in the signal region.
    config : BackgroundConfig
        Background shapes and generation region.
    selection : SelectionConfig
        Signal region and K* window.
    beam : BeamSpec
        Beam (ARGUS endpoint).

    Returns
    -------
    int
        ``round(f/(1 − f) · n_signal_region / P(SR))`` where ``P(SR)`` is
        :func:`region_fraction` of the signal region and K* window.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"background fraction {fraction} must be in [0, 1)")
    if n_signal_region < 0:
        raise DataError(f"signal count {n_signal_region} must be >= 0")
    m0 = _endpoint(beam)
    p_sr = region_fraction(
        config,
        beam=beam,
        mbc=(selection.mbc_signal_min, m0),
        delta_e=(-selection.delta_e_max, selection.delta_e_max),
        mkpi=(selection.mkpi_centre - selection.mkpi_window,
              selection.mkpi_centre + selection.mkpi_window),
    )
    if p_sr <= 0.0:
        raise ConfigError(
            "the background shapes put no probability into the signal region; check "
            "[background] mbc_min, delta_e_range and mkpi_range against [selection]"
        )
    return round(fraction / (1.0 - fraction) * n_signal_region / p_sr)


def generate_background(
    n: int,
    *,
    config: BackgroundConfig,
    beam: Any,
    rng: np.random.Generator,
    constants: ModelConstants = SEED_MODEL,
) -> dict[str, np.ndarray]:
    """Generate combinatorial background candidates as native detector-level columns.

    Parameters
    ----------
    n : int
        Number of candidates over the whole background region (see :func:`background_yield`).
    config : BackgroundConfig
        Shapes and generation region.
    beam : BeamSpec
        Beam; the ARGUS endpoint is ``beam.e_beam_cm``.
    rng : numpy.random.Generator
        Source of randomness; the variables are drawn in the fixed order Mbc, ΔE, m(Kπ), q²,
        cos θℓ, cos θK, χ, flavour.
    constants : ModelConstants
        Masses fixing the q² range.

    Returns
    -------
    dict of str to numpy.ndarray
        :data:`BACKGROUND_COLUMNS` (float64; ``flavour`` and ``is_signal`` int8), each of shape
        ``(n,)``, plus ``q2_true costheta_l_true costheta_k_true chi_true mkpi_true`` (NaN) and
        ``flavour_true = 0`` (no true decay).
    """
    n = int(n)
    if n < 0:
        raise DataError(f"number of background events {n} must be >= 0")
    m0 = _endpoint(beam)
    if config.mbc_min >= m0:
        raise ConfigError(
            f"[background] mbc_min = {config.mbc_min} GeV is not below the beam's E*_beam = "
            f"{m0:.5f} GeV"
        )
    d_lo, d_hi = config.delta_e_range
    k_lo, k_hi = config.mkpi_range
    q2_lo, q2_hi = q2_limits(constants)
    out: dict[str, np.ndarray] = {}
    out["mbc"] = sample_argus(n, c=config.argus_c, m0=m0, m_min=config.mbc_min, rng=rng)
    out["delta_e"] = sample_linear(n, slope=config.delta_e_slope, lo=d_lo, hi=d_hi, rng=rng)
    out["mkpi"] = sample_linear(
        n, slope=config.mkpi_slope, lo=k_lo, hi=k_hi, centre=0.5 * (k_lo + k_hi), rng=rng
    )
    x = sample_legendre(n, config.q2_legendre, rng=rng)
    out["q2"] = q2_lo + 0.5 * (x + 1.0) * (q2_hi - q2_lo)
    out["costheta_l"] = sample_legendre(n, config.costheta_l_legendre, rng=rng)
    out["costheta_k"] = sample_legendre(n, config.costheta_k_legendre, rng=rng)
    out["chi"] = sample_cosine(n, config.chi_cosines, rng=rng)
    out["flavour"] = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    out["is_signal"] = np.zeros(n, dtype=np.int8)
    for name in _KINEMATIC:
        out[f"{name}_true"] = np.full(n, np.nan)
    out["flavour_true"] = np.zeros(n, dtype=np.int8)
    return out
