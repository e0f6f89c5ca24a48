"""Statistics of estimator outputs on ensembles of pseudo-experiments.

Conventions (papers/002 §5): for one true value, the predictions of independent
pseudo-experiments form a distribution with mean μ and 16 % / 84 % quantiles q16, q84;
σL = μ − q16 and σR = q84 − μ.  Bias = μ − truth.  The linearity fit is a weighted straight line
through (truth, μ) with the standard error of the mean as weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hepc9.errors import DataError, ShapeError

__all__ = [
    "LinearityResult",
    "PointSummary",
    "Resolution",
    "coverage",
    "linearity_fit",
    "pulls",
    "resolution",
    "summarise_point",
]


@dataclass(frozen=True, slots=True)
class PointSummary:
    """Distribution of an estimator's outputs at one true value.

    Attributes
    ----------
    truth : float
        True parameter value.
    n : int
        Number of pseudo-experiments (finite predictions only).
    mean, median, std : float
        Moments of the predictions.
    q16, q84 : float
        16 % and 84 % quantiles.
    sigma_l, sigma_r : float
        ``mean − q16`` and ``q84 − mean``.
    bias : float
        ``mean − truth``.
    bias_err : float
        Standard error of the bias, ``std/√n``.
    mse, mae : float
        Mean squared and mean absolute error with respect to ``truth``.
    mse_err : float
        Standard error of ``mse``, ``sd((x − truth)²)/√n`` (nan in summaries written before
        it was recorded).
    """

    truth: float
    n: int
    mean: float
    median: float
    std: float
    q16: float
    q84: float
    sigma_l: float
    sigma_r: float
    bias: float
    bias_err: float
    mse: float
    mae: float
    mse_err: float = float("nan")

    @property
    def sigma(self) -> float:
        """Half the 16–84 % interval, ``(σL + σR)/2``."""
        return 0.5 * (self.sigma_l + self.sigma_r)

    def to_dict(self) -> dict[str, Any]:
        """Return plain data (with ``sigma``)."""
        d = asdict(self)
        d["sigma"] = self.sigma
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PointSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def summarise_point(predictions: np.ndarray, truth: float) -> PointSummary:
    """Summarise the predictions of independent pseudo-experiments at one true value.

    Parameters
    ----------
    predictions : numpy.ndarray, shape (n,)
        Estimates, one per pseudo-experiment.  Non-finite values are an error.
    truth : float
        True value.

    Returns
    -------
    PointSummary
    """
    x = np.asarray(predictions, dtype=np.float64).ravel()
    if x.size < 2:
        raise DataError(f"need at least 2 pseudo-experiments at truth {truth:g}, got {x.size}")
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DataError(f"{bad} of {x.size} predictions at truth {truth:g} are not finite")
    mean = float(x.mean())
    q16, q84 = (float(v) for v in np.quantile(x, [0.16, 0.84]))
    std = float(x.std(ddof=1))
    return PointSummary(
        truth=float(truth),
        n=int(x.size),
        mean=mean,
        median=float(np.median(x)),
        std=std,
        q16=q16,
        q84=q84,
        sigma_l=mean - q16,
        sigma_r=q84 - mean,
        bias=mean - float(truth),
        bias_err=std / np.sqrt(x.size),
        mse=float(np.mean((x - truth) ** 2)),
        mae=float(np.mean(np.abs(x - truth))),
        mse_err=float(np.std((x - truth) ** 2, ddof=1) / np.sqrt(x.size)),
    )


@dataclass(frozen=True, slots=True)
class LinearityResult:
    """Weighted straight-line fit ``mean = slope · truth + intercept``.

    Attributes
    ----------
    slope, intercept : float
        Fitted parameters.
    slope_err, intercept_err : float
        Their standard errors.
    chi2 : float
        χ² of the fit.
    ndof : int
        Degrees of freedom (points − 2).
    """

    slope: float
    intercept: float
    slope_err: float
    intercept_err: float
    chi2: float
    ndof: int

    def to_dict(self) -> dict[str, Any]:
        """Return plain data."""
        return asdict(self)


def linearity_fit(
    truth: Sequence[float] | np.ndarray,
    means: Sequence[float] | np.ndarray,
    errors: Sequence[float] | np.ndarray,
) -> LinearityResult:
    """Fit a straight line through (truth, mean) with weights 1/error².

    Parameters
    ----------
    truth, means, errors : array_like, shape (k,)
        True values, mean predictions and their standard errors (all errors > 0).

    Returns
    -------
    LinearityResult
    """
    t = np.asarray(truth, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if not (t.shape == m.shape == e.shape) or t.ndim != 1:
        raise ShapeError(f"truth, means and errors must be 1-D of one length: {t.shape}, "
                         f"{m.shape}, {e.shape}")
    if t.size < 3:
        raise DataError(f"a linearity fit needs at least 3 points, got {t.size}")
    if np.any(~np.isfinite(e)) or np.any(e <= 0):
        raise DataError("linearity-fit errors must be finite and positive")
    w = 1.0 / e**2
    a = np.stack([t, np.ones_like(t)], axis=1)
    cov = np.linalg.inv(a.T @ (a * w[:, None]))
    slope, intercept = cov @ (a.T @ (w * m))
    resid = m - (slope * t + intercept)
    return LinearityResult(
        slope=float(slope),
        intercept=float(intercept),
        slope_err=float(np.sqrt(cov[0, 0])),
        intercept_err=float(np.sqrt(cov[1, 1])),
        chi2=float(np.sum(w * resid**2)),
        ndof=int(t.size - 2),
    )


def coverage(
    truth: float | np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[float, float]:
    """Fraction of intervals ``[lower, upper]`` containing the truth, with its binomial error.

    Parameters
    ----------
    truth : float or numpy.ndarray
        True value(s).
    lower, upper : numpy.ndarray, shape (n,)
        Interval edges.

    Returns
    -------
    (float, float)
        Coverage and its standard error √(p(1−p)/n).
    """
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    if lo.shape != hi.shape or lo.size == 0:
        raise ShapeError(
            f"interval edges must be non-empty and of one shape: {lo.shape}, {hi.shape}"
        )
    inside = (lo <= truth) & (truth <= hi)
    p = float(np.mean(inside))
    return p, float(np.sqrt(max(p * (1 - p), 1e-12) / lo.size))


def pulls(values: np.ndarray, errors: np.ndarray, truth: float | np.ndarray) -> np.ndarray:
    """Return ``(value − truth)/error`` for each pseudo-experiment.

    Parameters
    ----------
    values, errors : numpy.ndarray, shape (n,)
        Estimates and their reported standard errors (> 0).
    truth : float or numpy.ndarray
        True value(s).

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if np.any(e <= 0):
        raise DataError("pull errors must be positive")
    return (v - truth) / e


@dataclass(frozen=True, slots=True)
class Resolution:
    """Spread of an estimator at one truth, raw and corrected for its response slope.

    An estimator with response ``mean = slope · truth + c`` and spread σ measures the truth
    with resolution σ/|slope| (a shrunk, biased estimator can have σ below the Cramér–Rao bound
    while its slope-corrected resolution is not).  Errors are statistical: σ of a Gaussian
    sample has relative error 1/√(2(n − 1)); the slope's error adds in quadrature.

    Attributes
    ----------
    sigma, sigma_err : float
        Standard deviation of the estimates and its error.
    slope, slope_err : float or None
        Response slope of the linearity fit (None without one).
    corrected, corrected_err : float or None
        σ/|slope| and its error.
    """

    sigma: float
    sigma_err: float
    slope: float | None
    slope_err: float | None
    corrected: float | None
    corrected_err: float | None

    def over(self, bound: float | None) -> dict[str, float | None]:
        """Ratios to a bound: ``sigma_over_crb``, ``corrected_over_crb`` and their errors."""
        if not bound:
            return {"sigma_over_crb": None, "sigma_over_crb_err": None,
                    "corrected_over_crb": None, "corrected_over_crb_err": None}
        c = None if self.corrected is None else self.corrected / bound
        ce = None if self.corrected_err is None else self.corrected_err / bound
        return {"sigma_over_crb": self.sigma / bound, "sigma_over_crb_err": self.sigma_err / bound,
                "corrected_over_crb": c, "corrected_over_crb_err": ce}


def resolution(point: PointSummary, linearity: LinearityResult | None) -> Resolution:
    """Return the raw and slope-corrected resolution at one truth.

    Parameters
    ----------
    point : PointSummary
        The estimates at the truth (``std``, ``n``).
    linearity : LinearityResult or None
        Linearity fit of the same estimator over its evaluated truths.

    Returns
    -------
    Resolution
        ``corrected`` is None without a linearity fit or with a slope of exactly 0.
    """
    rel = 1.0 / np.sqrt(2.0 * (point.n - 1))
    sigma = float(point.std)
    if linearity is None or linearity.slope == 0.0:
        slope = None if linearity is None else float(linearity.slope)
        slope_err = None if linearity is None else float(linearity.slope_err)
        return Resolution(sigma, sigma * rel, slope, slope_err, None, None)
    s, se = float(linearity.slope), float(linearity.slope_err)
    corrected = sigma / abs(s)
    corrected_err = corrected * float(np.sqrt(rel**2 + (se / s) ** 2))
    return Resolution(sigma, sigma * rel, s, se, corrected, corrected_err)
