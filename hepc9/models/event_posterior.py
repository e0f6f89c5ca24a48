"""Continuous set posteriors of the event classifier on a fine δC9 grid.

For a set of n independent events with per-event class posteriors p(θ | x_i) (flat training
prior), the set log posterior is Σ_i log p(θ | x_i) + const.  :func:`set_curves` evaluates it
on :data:`FINE_POINTS` values spanning the class nodes:

* ``quadratic`` head: exactly, Σ_i log q_i(t) − n log Z(t) at every fine point
  (:mod:`hepc9.models.quadratic_head`), with Z the reference normalisation
  ``labels.z_quadratic`` = (A, B, C) when the model records one (Z ∝ A + B t + C t², see
  :mod:`hepc9.train.event_exact`), else the head's trained Z;
* ``free`` head: Σ_i log_softmax(logits_i) at the nodes, interpolated by a cubic spline.

The calibration offset n (p₁ t + p₂ t²) (``labels.offset_poly``) and, for old models, per-node
``labels.offsets`` are added before normalising.  Plain numpy plus the model's forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.models.inputs import batched, prepare_inputs

__all__ = [
    "FINE_POINTS", "coefficient_model", "fine_theta", "log_softmax", "nearest_index",
    "offset_basis", "set_curves",
]

#: Points of the fine δC9 grid of the set posterior.
FINE_POINTS = 801


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Return log softmax of ``logits`` along ``axis`` (float64, stable for any magnitude).

    Parameters
    ----------
    logits : ndarray
        Any shape.
    axis : int
        Class axis.

    Returns
    -------
    ndarray
        Same shape, float64; ``exp`` sums to 1 along ``axis``.
    """
    z = np.asarray(logits, dtype=np.float64)
    m = np.max(z, axis=axis, keepdims=True)
    shifted = z - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def fine_theta(nodes: np.ndarray) -> np.ndarray:
    """Return the fine δC9 grid over the span of the class nodes, ``(FINE_POINTS,)``."""
    g = np.asarray(nodes, dtype=np.float64)
    return np.linspace(g[0], g[-1], FINE_POINTS)


def nearest_index(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest to each value (int64; values outside are clipped)."""
    g = np.asarray(grid, dtype=np.float64)
    pos = np.clip(np.searchsorted(g, values), 1, g.size - 1)
    left = np.abs(values - g[pos - 1]) <= np.abs(g[pos] - values)
    return np.where(left, pos - 1, pos).astype(np.int64)


def offset_basis(theta: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """``[t, t²]`` at ``theta`` (t the δC9 normalised to [−1, 1] over the nodes), ``(T, 2)``."""
    from hepc9.models.quadratic_head import normalised_theta

    t = normalised_theta(theta, nodes)
    return np.stack([t, t * t], axis=1)


def coefficient_model(model: Any) -> Any | None:
    """Return the sub-model giving the raw quadratic coefficients (``None``: free head)."""
    import keras

    try:
        layer = model.get_layer("coefficients")
    except ValueError:
        return None
    return keras.Model(model.inputs, layer.output)


def set_curves(model: Any, info: Mapping[str, Any], x: np.ndarray, *, batch_size: int = 64,
               normalise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Set log posteriors of event sets on the fine δC9 grid.

    Parameters
    ----------
    model : keras.Model
        Trained per-event classifier.
    info : mapping
        Its metadata (``labels.grid`` are the class nodes).
    x : ndarray, shape (N, n, F)
        Event sets as stored.
    batch_size : int
        Sets per forward pass.
    normalise : bool
        Normalise each curve (log-sum-exp over the grid = 0).

    Returns
    -------
    theta : ndarray, shape (T,)
        The fine grid.
    log_post : ndarray, shape (N, T), float64
    """
    from scipy.interpolate import CubicSpline

    from hepc9.models.quadratic_head import normalised_theta, quadratic_log

    labels = info["labels"]
    nodes = np.asarray(labels["grid"], dtype=np.float64)
    theta = fine_theta(nodes)
    t = normalised_theta(theta, nodes)
    coef_model = coefficient_model(model)
    log_z = None
    if coef_model is not None:
        zq = labels.get("z_quadratic")
        # the reference normalisation Z(t) ∝ A + B t + C t² when recorded, else the head's
        log_z = (np.log(np.polyval(np.asarray(zq, dtype=np.float64)[::-1], t)) if zq is not None
                 else model.get_layer("logits").log_z(t))
    out = np.empty((x.shape[0], theta.size))
    for sl in batched(x.shape[0], batch_size):
        xb = prepare_inputs(x[sl], info)
        flat = xb.reshape(-1, xb.shape[-1])
        n = xb.shape[1]
        if coef_model is not None:
            raw = np.asarray(coef_model.predict_on_batch(flat), np.float64)
            raw = raw.reshape(xb.shape[0], n, 3)
            for j in range(xb.shape[0]):
                out[sl.start + j] = quadratic_log(raw[j], t).sum(axis=0) - n * log_z
        else:
            logits = np.asarray(model.predict_on_batch(flat), np.float64)
            total = log_softmax(logits.reshape(xb.shape[0], n, -1)).sum(axis=1)
            if labels.get("offsets") is not None:
                total = total + n * np.asarray(labels["offsets"], dtype=np.float64)
            out[sl] = CubicSpline(nodes, total, axis=1)(theta)
        if labels.get("offset_poly") is not None:
            out[sl] += n * (offset_basis(theta, nodes) @ np.asarray(labels["offset_poly"]))
    if normalise:
        out = log_softmax(out, axis=-1)
    return theta, out
