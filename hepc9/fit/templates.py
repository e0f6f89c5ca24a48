"""Smooth background templates fitted to Mbc-sideband events (physics.md §8).

The combinatorial background is smooth and featureless, so its density in
x = (q², cosθℓ, cosθK, χ) is modelled as a factorised exponential of low-order terms::

    g(x; a) = exp[ Σ_k a_qk P_k(u) + Σ_k a_lk P_k(cosθℓ) + Σ_k a_Kk P_k(cosθK)
                   + Σ_j (a_cj cos jχ + a_sj sin jχ) ],     u = 2 (q² − q²_lo)/(q²_hi − q²_lo) − 1

(P_k Legendre polynomials, k ≥ 1).  The exponential keeps the density positive for any
coefficients and makes the sideband likelihood concave in a, so the template fit is a convex
problem solved by Newton's method with the exact Hessian (scipy ``trust-exact``).

Normalisation:

* without acceptance, b(x) = g(x)/Z with Z = Π_d ∫ g_d, each one-dimensional integral by
  128-point Gauss–Legendre quadrature (Legendre terms) or the 128-point trapezoid rule
  (periodic χ), both exact to rounding for these smooth integrands;
* with an :class:`~hepc9.fit.acceptance.AcceptanceSample`, the background is modelled as
  b(x) = ε(x) g(x) / ∫ ε g (the sideband events pass the same acceptance as the signal), so ε
  cancels from the signal+background likelihood; ∫ ε g is the Monte Carlo sum Σ w_i g(x_i)
  over the acceptance sample, in the same units as the signal normalisation.

The statistical covariance of the coefficients, V_a = H⁻¹/n from the exact Hessian H of the
mean sideband −ln L, is stored with the template (``covariance``) together with the maximised
ln L (``log_likelihood``, up to an order-independent constant) for the order scan
(:mod:`hepc9.fit.template_scan`) and the error propagation (:mod:`hepc9.fit.uncertainty`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.fit.inputs import resolve_q2_range, select_window
from hepc9.fit.template_basis import (
    _log_sum,
    _quadrature_sets,
    acceptance_features,
    acceptance_log_norm,
    plain_log_norm,
    template_features,
)
from hepc9.physics.constants import SEED_MODEL, ModelConstants

__all__ = ["BackgroundTemplate", "fit_template", "plain_log_norm", "template_features"]

# plain_log_norm and template_features live in hepc9.fit.template_basis (re-exported here)

@dataclass(frozen=True)
class BackgroundTemplate:
    """A fitted background template.

    Attributes
    ----------
    orders : (int, int, int, int)
        Orders in q², cosθℓ, cosθK and χ harmonics.
    coefficients : tuple of float
        The F coefficients a.
    q2_range : (float, float)
        Window in GeV².
    acceptance_corrected : bool
        True when fitted relative to an acceptance sample (b = ε g / ∫ ε g).
    log_norm : float
        ln Z of the plain density (without acceptance; NaN otherwise).
    n_events : int
        Sideband events used.
    covariance : tuple of tuple of float
        Statistical covariance of the coefficients (empty when unknown).
    log_likelihood : float
        Maximised sideband ln L (up to a constant common to every order; NaN when unknown).
    """

    orders: tuple[int, int, int, int]
    coefficients: tuple[float, ...]
    q2_range: tuple[float, float]
    acceptance_corrected: bool = False
    log_norm: float = math.nan
    n_events: int = 0
    covariance: tuple[tuple[float, ...], ...] = ()
    log_likelihood: float = math.nan

    def log_shape(self, events: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return ln g(x) (unnormalised), shape (n,)."""
        return template_features(events, self.orders, self.q2_range) @ np.asarray(self.coefficients)

    def density(self, events: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the normalised density b(x) over the window (no acceptance), shape (n,).

        Units: per GeV² per unit cosθℓ per unit cosθK per radian.
        """
        if self.acceptance_corrected:
            raise DataError(
                "this template is relative to an acceptance; use density_for_fit(acceptance=...)"
            )
        return np.exp(self.log_shape(events) - self.log_norm)

    def density_for_fit(
        self, events: Mapping[str, np.ndarray], *, acceptance: Any = None
    ) -> np.ndarray:
        """Return the background term G_e of the fit likelihood, shape (n,).

        Parameters
        ----------
        events : mapping of str to ndarray
            Events in the fit window.
        acceptance : AcceptanceSample, optional
            Must be given exactly when the template was fitted with an acceptance sample.

        Returns
        -------
        ndarray, shape (n,)
            b(x_e) without acceptance; g(x_e)/Σ w_i g(x_i) with it (the units of the
            acceptance-corrected signal term).
        """
        if acceptance is None:
            if self.acceptance_corrected:
                raise DataError(
                    "the background template was fitted relative to an acceptance sample; "
                    "the fit needs the same acceptance (--efficiency)"
                )
            return self.density(events)
        if not self.acceptance_corrected:
            raise DataError(
                "the background template was fitted without acceptance but the fit uses one; "
                "refit the template with the acceptance sample"
            )
        acceptance.check_window(self.q2_range)
        log_norm = acceptance_log_norm(
            acceptance, self.orders, self.q2_range, np.asarray(self.coefficients)
        )
        return np.exp(self.log_shape(events) - log_norm)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data."""
        return {
            "orders": list(self.orders),
            "coefficients": list(self.coefficients),
            "q2_range": list(self.q2_range),
            "acceptance_corrected": self.acceptance_corrected,
            "log_norm": self.log_norm,
            "n_events": self.n_events,
            "covariance": [list(r) for r in self.covariance],
            "log_likelihood": self.log_likelihood,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackgroundTemplate:
        """Rebuild a template from :meth:`to_dict` output."""
        return cls(
            orders=tuple(int(o) for o in data["orders"]),  # type: ignore[arg-type]
            coefficients=tuple(float(c) for c in data["coefficients"]),
            q2_range=(float(data["q2_range"][0]), float(data["q2_range"][1])),
            acceptance_corrected=bool(data["acceptance_corrected"]),
            log_norm=float(data["log_norm"]),
            n_events=int(data.get("n_events", 0)),
            covariance=tuple(tuple(float(x) for x in r) for r in data.get("covariance", ())),
            log_likelihood=float(data.get("log_likelihood", math.nan)),
        )

    def with_coefficients(self, coefficients: Sequence[float]) -> BackgroundTemplate:
        """Return a copy with other coefficients (``log_norm`` recomputed, no covariance)."""
        a = np.asarray(coefficients, dtype=np.float64)
        log_norm = math.nan
        if not self.acceptance_corrected:
            log_norm = plain_log_norm(self.orders, self.q2_range, a)
        return BackgroundTemplate(
            orders=self.orders,
            coefficients=tuple(float(x) for x in a),
            q2_range=self.q2_range,
            acceptance_corrected=self.acceptance_corrected,
            log_norm=float(log_norm),
            n_events=self.n_events,
        )


def fit_template(
    sideband: Mapping[str, np.ndarray],
    *,
    q2_range: Sequence[float] | None = None,
    orders: Sequence[int] = (2, 2, 2, 1),
    acceptance: Any = None,
    outside: str = "drop",
    min_events: int = 20,
    constants: ModelConstants = SEED_MODEL,
    start: Sequence[float] | None = None,
) -> BackgroundTemplate:
    """Fit the exponential-polynomial background template to sideband events.

    Parameters
    ----------
    sideband : mapping of str to ndarray
        Sideband events (``q2 costheta_l costheta_k chi``), shape (n,).
    q2_range : (float, float), optional
        Fit window in GeV² (default the full kinematic range of the seed model).
    orders : (int, int, int, int)
        Orders in q², cosθℓ, cosθK and χ harmonics (each ≥ 0).
    acceptance : AcceptanceSample, optional
        Fit the shape relative to this acceptance (see the module docstring).
    outside : {"drop", "raise"}
        Sideband events outside the window are dropped (default, with a warning) or rejected.
    min_events : int
        Smallest usable sideband sample.
    constants : ModelConstants
        Masses that fix the kinematic q² range.
    start : sequence of float, optional
        Start coefficients (default 0); the problem is convex, so only the speed depends on it.

    Returns
    -------
    BackgroundTemplate
    """
    from scipy.optimize import minimize

    ords = tuple(int(o) for o in orders)
    if len(ords) != 4 or any(o < 0 for o in ords):
        raise DataError(f"template orders {tuple(orders)} must be four non-negative integers")
    window = resolve_q2_range(q2_range, constants)
    if acceptance is not None:
        acceptance.check_window(window)
    ev, _ = select_window(sideband, window, outside=outside, what="sideband events")  # type: ignore[arg-type]
    n = ev["q2"].size
    if n < min_events:
        raise DataError(f"only {n} sideband events in the window; at least {min_events} are needed")
    phi = template_features(ev, ords, window)
    nfeat = phi.shape[1]
    mean_phi = phi.mean(axis=0)
    if acceptance is not None:
        norm_sets = [
            (
                acceptance_features(acceptance, ords, window),
                acceptance.weights,
                slice(0, nfeat),
            )
        ]
    else:
        norm_sets = _quadrature_sets(ords, window)

    # trust-exact asks for the value, gradient and Hessian at the same points: one pass each
    memo: dict[bytes, tuple[float, np.ndarray, np.ndarray]] = {}

    def moments(a: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        key = np.asarray(a, dtype=np.float64).tobytes()
        if key not in memo:
            memo.clear()
            val = -float(mean_phi @ a)
            grad = -mean_phi.copy()
            h = np.zeros((nfeat, nfeat))
            for ph, w, sl in norm_sets:
                if ph.shape[1] == 0:
                    continue
                ls, g, c = _log_sum(ph, w, a[sl])
                val += ls
                grad[sl] += g
                h[sl, sl] += c
            memo[key] = (val, grad, h)
        return memo[key]

    def objective(a: np.ndarray) -> tuple[float, np.ndarray]:
        val, grad, _ = moments(a)
        return val, grad.copy()

    def hessian(a: np.ndarray) -> np.ndarray:
        return moments(a)[2].copy()

    a0 = np.zeros(nfeat) if start is None else np.asarray(start, dtype=np.float64)
    if a0.shape != (nfeat,):
        raise DataError(f"template start has {a0.size} coefficients, the orders need {nfeat}")
    if nfeat:
        res = minimize(objective, a0, jac=True, hess=hessian, method="trust-exact")
        if not res.success or not np.all(np.isfinite(res.x)):
            raise DataError(
                f"background template fit to {n} sideband events did not converge ({res.message}); "
                "lower the template orders"
            )
        a = res.x
    else:
        a = a0
    log_norm = math.nan
    if acceptance is None:
        log_norm = plain_log_norm(ords, window, a)
    hess = hessian(a)
    cov = np.linalg.pinv(hess) / n if nfeat else np.zeros((0, 0))
    return BackgroundTemplate(
        orders=ords,
        coefficients=tuple(float(x) for x in a),
        q2_range=window,
        acceptance_corrected=acceptance is not None,
        log_norm=float(log_norm),
        n_events=int(n),
        covariance=tuple(tuple(float(x) for x in r) for r in cov),
        log_likelihood=-float(n) * objective(a)[0],
    )
