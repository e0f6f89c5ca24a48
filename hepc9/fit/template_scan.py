"""Choose the background-template orders from the sideband itself.

A forward scan over the orders (o_q, o_ℓ, o_K, o_χ) of :func:`~hepc9.fit.templates.fit_template`:
starting from ``start``, each step tries raising every order by one and by two (up to
``max_orders``; the jump of two finds even-only terms of symmetric densities), keeps
the raise with the largest gain 2ΔlnL, and accepts it when the information criterion says the
sideband needs it:

* ``"bic"``: 2ΔlnL > k ln n (Bayesian information criterion, k added parameters, n events);
* ``"aic"``: 2ΔlnL > 2k;
* ``"lrt"``: likelihood-ratio test, χ²_k p-value of 2ΔlnL below ``alpha``.

The candidates are ranked by the score (Rao) statistic n gᵀH⁻¹g of the added terms, from one
gradient and Hessian of the sideband −ln L at the accepted fit (extended by zeros to the
maximum orders); only the best-ranked candidate is refitted (up to two when the score test
overrates it) and its actual 2ΔlnL decides.  The scan stops when no raise is accepted.
Every candidate is returned in :attr:`OrderScan.steps` and written to the fit output JSON
(``background_template.order_scan``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.fit.template_basis import _log_sum, _quadrature_sets, template_features
from hepc9.fit.templates import BackgroundTemplate, fit_template

__all__ = ["CRITERIA", "OrderScan", "scan_template_orders"]

#: Accepted order-selection criteria (``"none"``: use the given orders as they are).
CRITERIA: tuple[str, ...] = ("none", "bic", "aic", "lrt")


@dataclass(frozen=True)
class OrderScan:
    """Result of :func:`scan_template_orders`.

    Attributes
    ----------
    template : BackgroundTemplate
        The template at the chosen orders.
    criterion : str
    steps : tuple of dict
        One entry per candidate raise: ``orders``, ``score`` (score statistic), ``gain`` (the
        refitted 2ΔlnL against the accepted orders of that step, ``None`` when not refitted),
        ``added`` (parameters), ``threshold``, ``accepted``.
    extrapolation : dict or None
        Set when ``template`` was extrapolated from two Mbc slices of the sideband at the chosen
        orders (:func:`hepc9.fit.sideband_slices.extrapolated_template`).
    """

    template: BackgroundTemplate
    criterion: str
    steps: tuple[dict[str, Any], ...]
    extrapolation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data (chosen orders, criterion and every step)."""
        return {
            "criterion": self.criterion,
            "chosen": list(self.template.orders),
            "steps": [dict(s) for s in self.steps],
            "extrapolation": self.extrapolation,
        }


def _threshold(criterion: str, added: int, n: int, alpha: float) -> float:
    if criterion == "bic":
        return added * math.log(n)
    if criterion == "aic":
        return 2.0 * added
    from scipy.stats import chi2

    return float(chi2.isf(alpha, added))


#: Candidate refits per step when the score test overrates a raise.
_TRIES = 2
_CHUNK = 250_000
_COLS = ("q2", "costheta_l", "costheta_k", "chi")


def _window_feature_mean(
    sideband: Mapping[str, np.ndarray], orders: Sequence[int], window: tuple[float, float]
) -> np.ndarray:
    """Mean feature vector of the finite sideband events inside the window."""
    ev = {c: np.asarray(sideband[c], dtype=np.float64) for c in _COLS}
    keep = np.ones(ev["q2"].size, dtype=bool)
    for v in ev.values():
        keep &= np.isfinite(v)
    keep &= (ev["q2"] >= window[0]) & (ev["q2"] <= window[1])
    return template_features({c: v[keep] for c, v in ev.items()}, orders, window).mean(axis=0)


def _grad_hess(
    sb_mean: np.ndarray,
    a: np.ndarray,
    orders: Sequence[int],
    window: tuple[float, float],
    acceptance: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the mean sideband −ln L at ``a`` (layout of ``orders``)."""
    nfeat = sb_mean.size
    grad, hess = -sb_mean.copy(), np.zeros((nfeat, nfeat))
    if acceptance is None:
        for ph, w, sl in _quadrature_sets(orders, window):
            if ph.shape[1]:
                _, m, c = _log_sum(ph, w, a[sl])
                grad[sl] += m
                hess[sl, sl] += c
        return grad, hess
    # chunked moments of the features under w·exp(Φa) over the acceptance sample
    pts, wts = acceptance.points, acceptance.weights
    chunks = [slice(i, i + _CHUNK) for i in range(0, wts.size, _CHUNK)]
    zmax = max(
        float((template_features({c: pts[c][sl] for c in _COLS}, orders, window) @ a).max())
        for sl in chunks
    )
    s0, s1, s2 = 0.0, np.zeros(nfeat), np.zeros((nfeat, nfeat))
    for sl in chunks:
        phi = template_features({c: pts[c][sl] for c in _COLS}, orders, window)
        e = wts[sl] * np.exp(phi @ a - zmax)
        s0 += float(e.sum())
        s1 += e @ phi
        s2 += (phi * e[:, None]).T @ phi
    mean = s1 / s0
    return grad + mean, s2 / s0 - np.outer(mean, mean)


def _columns(orders: Sequence[int], top: Sequence[int]) -> np.ndarray:
    """Columns of the ``orders`` features inside the layout of ``top``."""
    cols: list[int] = []
    pos = 0
    for dim in range(4):
        width = 2 * orders[dim] if dim == 3 else orders[dim]
        cols.extend(range(pos, pos + width))
        pos += 2 * top[dim] if dim == 3 else top[dim]
    return np.asarray(cols, dtype=np.int64)


def _n_features(orders: Sequence[int]) -> int:
    return int(orders[0] + orders[1] + orders[2] + 2 * orders[3])


def _extend(a: Sequence[float], old: Sequence[int], new: Sequence[int]) -> np.ndarray:
    """Map coefficients of ``old`` orders into the layout of ``new`` (zeros for new terms)."""
    out: list[float] = []
    pos = 0
    for dim in range(4):
        width_old = 2 * old[dim] if dim == 3 else old[dim]
        width_new = 2 * new[dim] if dim == 3 else new[dim]
        block = list(a[pos : pos + width_old])
        out.extend(block + [0.0] * (width_new - width_old))
        pos += width_old
    return np.asarray(out)


def scan_template_orders(
    sideband: Mapping[str, np.ndarray],
    *,
    criterion: str = "bic",
    start: Sequence[int] = (1, 1, 1, 1),
    max_orders: Sequence[int] = (8, 8, 8, 6),
    alpha: float = 0.01,
    **template_kwargs: Any,
) -> OrderScan:
    """Fit the template at the orders the sideband supports.

    Parameters
    ----------
    sideband : mapping of str to ndarray
        Sideband events (see :func:`~hepc9.fit.templates.fit_template`).
    criterion : {"none", "bic", "aic", "lrt"}
        Selection rule (module docstring); ``"none"`` fits ``start`` as given.
    start : (int, int, int, int)
        First orders of the scan (the fixed orders with ``"none"``).
    max_orders : (int, int, int, int)
        Largest orders tried.
    alpha : float
        Test size of ``"lrt"``.
    **template_kwargs
        ``q2_range``, ``acceptance``, ``outside``, ``min_events``, ``constants`` of
        :func:`~hepc9.fit.templates.fit_template`.

    Returns
    -------
    OrderScan
    """
    if criterion not in CRITERIA:
        raise DataError(f"template order criterion {criterion!r} must be one of {CRITERIA}")
    cur = tuple(int(o) for o in start)
    top = tuple(int(o) for o in max_orders)
    if len(cur) != 4 or len(top) != 4 or any(c > t for c, t in zip(cur, top, strict=True)):
        raise DataError(f"template start orders {cur} must not exceed the maximum orders {top}")
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha = {alpha} must be in (0, 1)")
    best = fit_template(sideband, orders=cur, **template_kwargs)
    steps: list[dict[str, Any]] = []
    if criterion == "none":
        return OrderScan(best, criterion, ())
    n = best.n_events
    window = best.q2_range
    sb_mean = _window_feature_mean(sideband, top, window)
    acceptance = template_kwargs.get("acceptance")
    while True:
        a_full = _extend(best.coefficients, cur, top)
        grad, hess = _grad_hess(sb_mean, a_full, top, window, acceptance)
        trials = []
        for dim, jump in ((d, j) for d in range(4) for j in (1, 2)):
            if cur[dim] + jump > top[dim]:
                continue
            new = tuple(o + (jump if d == dim else 0) for d, o in enumerate(cur))
            idx = _columns(new, top)
            g = grad[idx]
            score = float(n * g @ np.linalg.lstsq(hess[np.ix_(idx, idx)], g, rcond=None)[0])
            added = _n_features(new) - _n_features(cur)
            thr = _threshold(criterion, added, n, alpha)
            trials.append((score - thr, score, thr, added, new))
        trials.sort(key=lambda t: t[0], reverse=True)
        chosen, refits = None, 0
        for excess, score, thr, added, new in trials:
            step: dict[str, Any] = {"orders": list(new), "score": score, "added": added,
                                    "threshold": thr, "gain": None, "accepted": False}  # fmt: skip
            if chosen is None and excess > 0.0 and refits < _TRIES:
                refits += 1
                a0 = _extend(best.coefficients, cur, new)
                tpl = fit_template(sideband, orders=new, start=a0.tolist(), **template_kwargs)
                step["gain"] = 2.0 * (tpl.log_likelihood - best.log_likelihood)
                step["log_likelihood"] = tpl.log_likelihood
                if step["gain"] > thr:
                    step["accepted"] = True
                    chosen = (new, tpl)
            steps.append(step)
        if chosen is None:
            break
        cur, best = chosen
    return OrderScan(best, criterion, tuple(steps))
