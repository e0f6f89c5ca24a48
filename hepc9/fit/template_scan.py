"""Choose the background-template orders from the sideband itself.

A forward scan over the orders (o_q, o_ℓ, o_K, o_χ) of :func:`~hepc9.fit.templates.fit_template`:
starting from ``start``, each step tries raising every order by one and by two (up to
``max_orders``; the jump of two finds even-only terms of symmetric densities), keeps
the raise with the largest gain 2ΔlnL, and accepts it when the information criterion says the
sideband needs it:

* ``"bic"``: 2ΔlnL > k ln n (Bayesian information criterion, k added parameters, n events);
* ``"aic"``: 2ΔlnL > 2k;
* ``"lrt"``: likelihood-ratio test, χ²_k p-value of 2ΔlnL below ``alpha``.

The scan stops when no raise is accepted.  The template problem is convex and each candidate
starts from the accepted coefficients (extended by zeros), so a step costs a few Newton
iterations per candidate.  Every evaluated step is returned in :attr:`OrderScan.steps` and is
written to the fit output JSON (``background_template.order_scan``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import DataError
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
        One entry per tried raise: ``orders``, ``log_likelihood``, ``gain`` (2ΔlnL against
        the accepted orders of that step), ``added`` (parameters), ``threshold``, ``accepted``.
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
    while True:
        trials = []
        for dim, jump in ((d, j) for d in range(4) for j in (1, 2)):
            if cur[dim] + jump > top[dim]:
                continue
            new = tuple(o + (jump if d == dim else 0) for d, o in enumerate(cur))
            a0 = _extend(best.coefficients, cur, new)
            tpl = fit_template(sideband, orders=new, start=a0, **template_kwargs)
            added = _n_features(new) - _n_features(cur)
            gain = 2.0 * (tpl.log_likelihood - best.log_likelihood)
            trials.append((gain - _threshold(criterion, added, n, alpha), gain, added, new, tpl))
        if not trials:
            break
        trials.sort(key=lambda t: t[0], reverse=True)
        accepted = trials[0][0] > 0.0
        for i, (excess, gain, added, new, tpl) in enumerate(trials):
            steps.append(
                {
                    "orders": list(new),
                    "log_likelihood": tpl.log_likelihood,
                    "gain": gain,
                    "added": added,
                    "threshold": gain - excess,
                    "accepted": bool(accepted and i == 0),
                }
            )
        if not accepted:
            break
        cur, best = trials[0][3], trials[0][4]
    return OrderScan(best, criterion, tuple(steps))
