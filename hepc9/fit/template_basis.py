"""Basis of the background templates: features, quadrature normalisation, log-norm gradient.

The template (:mod:`hepc9.fit.templates`) is g(x; a) = exp(Φ(x)·a) with the Legendre /
harmonic features Φ of :func:`template_features`.  Its normalisation over the window is the
factorised quadrature of :func:`plain_log_norm` without acceptance, or the Monte Carlo sum
Σ w_i g(x_i) over an :class:`~hepc9.fit.acceptance.AcceptanceSample` with it.  The features of
the (large) acceptance sample are computed once per template orders and cached on the sample
(:func:`acceptance_features`); :func:`log_norm_gradient` gives ln Z and ∂ln Z/∂a, the only
pieces the linearised error propagation (:mod:`hepc9.fit.uncertainty`) needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "acceptance_features",
    "acceptance_log_norm",
    "acceptance_terms",
    "log_norm_gradient",
    "plain_log_norm",
    "template_features",
]

_NODES = 128
_TWO_PI = 2.0 * math.pi


def _legendre_terms(u: np.ndarray, order: int) -> list[np.ndarray]:
    """Return [P_1(u), ..., P_order(u)] by the three-term recurrence."""
    out: list[np.ndarray] = []
    p_prev, p = np.ones_like(u), u
    for k in range(1, order + 1):
        out.append(p)
        p_prev, p = p, ((2 * k + 1) * u * p - k * p_prev) / (k + 1)
    return out


def _dimension_features(
    values: np.ndarray, dim: int, order: int, q2_range: tuple[float, float]
) -> list[np.ndarray]:
    if dim == 0:
        lo, hi = q2_range
        return _legendre_terms(2.0 * (values - lo) / (hi - lo) - 1.0, order)
    if dim in (1, 2):
        return _legendre_terms(values, order)
    terms: list[np.ndarray] = []
    for j in range(1, order + 1):
        terms.extend((np.cos(j * values), np.sin(j * values)))
    return terms


def template_features(
    events: Mapping[str, np.ndarray],
    orders: Sequence[int],
    q2_range: tuple[float, float],
) -> np.ndarray:
    """Return the feature matrix Φ(x) of the exponential template.

    Parameters
    ----------
    events : mapping of str to ndarray
        ``q2 costheta_l costheta_k chi``, shape (n,).
    orders : (int, int, int, int)
        Polynomial orders in q², cosθℓ, cosθK and the number of χ harmonics.
    q2_range : (float, float)
        Window in GeV² mapped to u ∈ [−1, 1].

    Returns
    -------
    ndarray, shape (n, F), float64
        F = o_q + o_ℓ + o_K + 2 o_χ.
    """
    cols = ("q2", "costheta_l", "costheta_k", "chi")
    feats: list[np.ndarray] = []
    for dim, (col, order) in enumerate(zip(cols, orders, strict=True)):
        feats.extend(
            _dimension_features(np.asarray(events[col], dtype=np.float64), dim, order, q2_range)
        )
    n = np.asarray(events["q2"]).size
    if not feats:
        return np.zeros((n, 0))
    return np.stack(feats, axis=1)


def _quadrature_sets(
    orders: Sequence[int], q2_range: tuple[float, float]
) -> list[tuple[np.ndarray, np.ndarray, slice]]:
    """Per-dimension (features, weights, feature slice) for the factorised normalisation."""
    x, w = np.polynomial.legendre.leggauss(_NODES)
    sets = []
    start = 0
    for dim, order in enumerate(orders):
        nfeat = 2 * order if dim == 3 else order
        nodes: np.ndarray
        weights: np.ndarray
        if dim == 0:
            lo, hi = q2_range
            nodes, weights = lo + (x + 1.0) * (hi - lo) / 2.0, w * (hi - lo) / 2.0
        elif dim in (1, 2):
            nodes, weights = x, w
        else:
            nodes = np.arange(_NODES) * (_TWO_PI / _NODES)
            weights = np.full(_NODES, _TWO_PI / _NODES)
        feats = _dimension_features(nodes, dim, order, q2_range)
        phi = np.stack(feats, axis=1) if feats else np.zeros((_NODES, 0))
        sets.append((phi, weights, slice(start, start + nfeat)))
        start += nfeat
    return sets


def _log_sum(
    phi: np.ndarray, w: np.ndarray, a: np.ndarray, *, moments: int = 2
) -> tuple[float, np.ndarray, np.ndarray]:
    """Return ln Σ w exp(Φa), its gradient and Hessian in a.

    ``moments`` < 2 skips the Hessian (returned empty), < 1 also the gradient: the covariance
    is an n·F² pass, the costliest part on a large acceptance sample.
    """
    z = phi @ a
    zmax = float(z.max()) if z.size else 0.0
    e = w * np.exp(z - zmax)
    s = float(e.sum())
    if moments < 1:
        return math.log(s) + zmax, np.zeros(0), np.zeros((0, 0))
    p = e / s
    mean = p @ phi
    if moments < 2:
        return math.log(s) + zmax, mean, np.zeros((0, 0))
    cov = (phi * p[:, None]).T @ phi - np.outer(mean, mean)
    return math.log(s) + zmax, mean, cov


def plain_log_norm(orders: Sequence[int], q2_range: tuple[float, float], a: np.ndarray) -> float:
    """Return ln Z = ln ∫ g over the window (factorised quadrature) for coefficients ``a``."""
    return log_norm_gradient(orders, q2_range, a)[0]


#: Key of the cached template features in ``AcceptanceSample._cache`` (one entry is kept).
_FEATURE_KEY = "template_features"


def acceptance_features(
    acceptance: Any, orders: Sequence[int], q2_range: tuple[float, float]
) -> np.ndarray:
    """Return Φ at the acceptance-sample points, cached on the sample for the last orders.

    Parameters
    ----------
    acceptance : AcceptanceSample
    orders : (int, int, int, int)
    q2_range : (float, float)

    Returns
    -------
    ndarray, shape (n_acc, F)
        Read-only; do not modify.
    """
    key = (tuple(int(o) for o in orders), (float(q2_range[0]), float(q2_range[1])))
    cache = acceptance._cache
    hit = cache.get(_FEATURE_KEY)
    if hit is not None and hit[0] == key:
        return hit[1]
    phi = template_features(acceptance.points, key[0], key[1])
    phi.setflags(write=False)
    cache[_FEATURE_KEY] = (key, phi)
    return phi


#: Key of the cached normalisation terms in ``AcceptanceSample._cache`` (one entry is kept).
_TERMS_KEY = "template_terms"


def acceptance_terms(
    acceptance: Any, orders: Sequence[int], q2_range: tuple[float, float], a: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Return ln Z, ∂ln Z/∂a and g(x_i)/Z over the acceptance sample, Z = Σ w_i g(x_i).

    One pass over the sample, cached on it for the last coefficients (the fit and its error
    propagation both need these).

    Returns
    -------
    (float, ndarray (F,), ndarray (n_acc,))
        The last array is read-only, with Σ w_i g_i/Z = 1.
    """
    a = np.asarray(a, dtype=np.float64)
    key = (tuple(int(o) for o in orders), (float(q2_range[0]), float(q2_range[1])), a.tobytes())
    hit = acceptance._cache.get(_TERMS_KEY)
    if hit is not None and hit[0] == key:
        return hit[1]
    phi = acceptance_features(acceptance, orders, q2_range)
    w = acceptance.weights
    z = phi @ a
    zmax = float(z.max()) if z.size else 0.0
    e = np.exp(z - zmax)
    s = float(w @ e)
    g = e / s
    g.setflags(write=False)
    out = (math.log(s) + zmax, (w * g) @ phi, g)
    acceptance._cache[_TERMS_KEY] = (key, out)
    return out


def acceptance_log_norm(
    acceptance: Any, orders: Sequence[int], q2_range: tuple[float, float], a: np.ndarray
) -> float:
    """Return ln Σ w_i g(x_i; a) over the acceptance sample (:func:`acceptance_terms`)."""
    return acceptance_terms(acceptance, orders, q2_range, a)[0]


def log_norm_gradient(
    orders: Sequence[int],
    q2_range: tuple[float, float],
    a: np.ndarray,
    *,
    acceptance: Any = None,
) -> tuple[float, np.ndarray]:
    """Return ln Z(a) and ∂ln Z/∂a (the mean features under the normalised template).

    Parameters
    ----------
    orders : (int, int, int, int)
    q2_range : (float, float)
    a : ndarray, shape (F,)
        Template coefficients.
    acceptance : AcceptanceSample, optional
        Z = Σ w_i g(x_i) over it; default the plain quadrature ∫ g.

    Returns
    -------
    (float, ndarray (F,))
    """
    a = np.asarray(a, dtype=np.float64)
    if acceptance is not None:
        value, grad, _ = acceptance_terms(acceptance, orders, q2_range, a)
        return value, grad
    value, grad = 0.0, np.zeros(a.size)
    for ph, w, sl in _quadrature_sets(orders, q2_range):
        if ph.shape[1]:
            v, g, _ = _log_sum(ph, w, a[sl], moments=1)
            value += v
            grad[sl] = g
        else:
            value += math.log(float(w.sum()))
    return float(value), grad
