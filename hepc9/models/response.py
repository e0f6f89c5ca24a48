"""Response calibration of regression estimators: invert the mean response E[δC9̂ | δC9].

A network trained with a squared-error loss on labels from a prior learns the posterior mean of
δC9, not an unbiased estimate: its mean response g(δC9) = E[δC9̂ | δC9] has a slope that
differs from 1 and offsets that depend on δC9 (shrinkage towards the prior's centre, skew where
the information changes with δC9). After training,
:func:`hepc9.models.targets.calibrate_regression` fits g as a polynomial to the predictions on
the independent calibration sets (labels from the same prior) and stores it under
``labels.response`` in ``model.json``; :func:`apply_response` maps every later prediction
through g⁻¹, so the calibrated estimate has mean response ≈ δC9 (to first order in the
spread) and its spread is the network's divided by the local slope — what the comparison table's
slope-corrected resolution already measures.

g is fitted on the label range less :data:`TRIM` of its width at each end (near the prior's
edges the posterior mean flattens) and continued linearly beyond.  The inversion is refused
(``"applied": false`` with the reason) when g is not increasing with a slope of at least
:data:`MIN_SLOPE` everywhere on the fitted range: a nearly constant predictor would be blown
up into noise rather than calibrated.  Plain numpy.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["MIN_SLOPE", "RESPONSE_DEGREE", "TRIM", "apply_response", "fit_response"]

#: Degree of the response polynomial g.
RESPONSE_DEGREE = 3
#: Smallest slope dg/dδC9 on the label range for which g is inverted.
MIN_SLOPE = 0.2
#: Fraction of the label range's width left out of the fit at each end: near the edges of the
#: prior the posterior mean flattens (it cannot leave the prior), which a low-degree
#: polynomial would spread into the interior; evaluation truths lie well inside.
TRIM = 0.15
#: Nodes of the inversion table over the fitted range.
_NODES = 2001


def fit_response(truth: np.ndarray, pred: np.ndarray, *, degree: int = RESPONSE_DEGREE,
                 trim: float = TRIM) -> dict[str, Any]:
    """Fit the mean response g(δC9) = E[δC9̂ | δC9] as a polynomial.

    Parameters
    ----------
    truth : ndarray, shape (N,)
        True δC9 of the calibration sets.
    pred : ndarray, shape (N,)
        The uncalibrated predictions.
    degree : int
        Polynomial degree (lowered to the number of distinct truths minus one).
    trim : float
        Fraction of the label range's width left out at each end (:data:`TRIM`).

    Returns
    -------
    dict
        ``applied`` (bool), ``reason`` (why not, or ``""``), ``coef`` (highest power first,
        in δC9 − ``centre``), ``centre``, ``range`` ([lo, hi] of the fitted labels),
        ``min_slope`` (on that range), ``rms`` (residual spread about g) and ``n`` (sets
        fitted).
    """
    t = np.asarray(truth, dtype=np.float64).reshape(-1)
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} truths for {p.size} predictions")
    good = np.isfinite(t) & np.isfinite(p)
    if good.any():
        lo, hi = t[good].min(), t[good].max()
        trim = trim * (hi - lo)
        good &= (t >= lo + trim - 1e-12) & (t <= hi - trim + 1e-12)
    t, p = t[good], p[good]
    record: dict[str, Any] = {"applied": False, "reason": "", "n": int(t.size)}
    if t.size < 3 or not np.ptp(t) > 0:
        record["reason"] = (f"{t.size} finite calibration sets with {np.unique(t).size} distinct "
                            "δC9 (need ≥ 3 sets, ≥ 2 values)")
        return record
    deg = int(min(degree, np.unique(t).size - 1))  # labels on a grid: ≤ distinct values
    centre = float(0.5 * (t.min() + t.max()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.RankWarning)
        try:
            coef = np.polyfit(t - centre, p, deg)
        except np.exceptions.RankWarning:
            record["reason"] = (f"the calibration labels are too clustered for a degree-{deg} "
                                "response fit")
            return record
    nodes = np.linspace(t.min(), t.max(), _NODES)
    slope = np.polyval(np.polyder(coef), nodes - centre)
    record.update(coef=[float(c) for c in coef], centre=centre,
                  range=[float(t.min()), float(t.max())], min_slope=float(slope.min()),
                  rms=float(np.std(p - np.polyval(coef, t - centre))))
    if slope.min() < MIN_SLOPE:
        record["reason"] = (f"the response slope falls to {slope.min():.3f} (< {MIN_SLOPE}) "
                            "on the label range: not inverted")
        return record
    record["applied"] = True
    return record


def apply_response(pred: np.ndarray, response: Mapping[str, Any] | None) -> np.ndarray:
    """Map predictions through g⁻¹ (identity when ``response`` is absent or not applied).

    Parameters
    ----------
    pred : ndarray
        Uncalibrated predictions.
    response : mapping or None
        ``labels.response`` of ``model.json`` (:func:`fit_response`).

    Returns
    -------
    ndarray
        Calibrated δC9; beyond g of the label range's ends, continued linearly with the end
        slopes.
    """
    p = np.asarray(pred, dtype=np.float64)
    if not response or not response.get("applied"):
        return p
    coef = np.asarray(response["coef"], dtype=np.float64)
    centre = float(response["centre"])
    lo, hi = (float(v) for v in response["range"])
    nodes = np.linspace(lo, hi, _NODES)
    g = np.polyval(coef, nodes - centre)
    d = np.polyder(coef)
    out = np.interp(p, g, nodes)
    below, above = p < g[0], p > g[-1]
    out[below] = lo + (p[below] - g[0]) / np.polyval(d, lo - centre)
    out[above] = hi + (p[above] - g[-1]) / np.polyval(d, hi - centre)
    return out
