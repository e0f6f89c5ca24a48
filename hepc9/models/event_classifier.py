"""Event-by-event classifier over the δC9 label grid, combined into a set posterior (papers/003).

A per-event network (Dense + ReLU layers) gives logits over K values of δC9: the grid of a
stored build, or the centres of ``[model] event_bins`` bins of a continuous prior (streamed
training), into which the continuous labels are binned.  With the default ``quadratic`` head
the logits are smooth functions of δC9 (:mod:`hepc9.models.quadratic_head`), so the set
posterior is defined for every δC9, not only on the nodes.  Trained with the cross-entropy on
events drawn equally from every value, softmax(logits) estimates
p(δC9_k | x) under a flat prior, so for a set of independent events

    log p(δC9_k | x_1..x_n) = Σ_i log_softmax(logits_i)_k − (n − 1) log(1/K) + const,

and, the second term being the same for every k, the normalised set posterior is
softmax over k of Σ_i log_softmax(logits_i)_k.  The point estimate is the posterior mean of the
δC9 *values* (never grid indices), the spread its standard deviation, and the interval the
posterior quantiles.  The combination functions here are plain numpy (float64, log-sum-exp),
usable without Keras.

:func:`predict_sets` and :func:`calibrate_sets` are the prediction and calibration hooks of
the ``event`` registry entry (:mod:`hepc9.models.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.models.event_posterior import log_softmax, nearest_index, offset_basis, set_curves

__all__ = [
    "build",
    "calibrate_sets",
    "fit_set_offsets",
    "log_softmax",
    "posterior_summary",
    "predict_sets",
    "set_log_posterior",
]


def build(input_shape: tuple[int, ...], cfg: Any, *, n_classes: int,
          nodes: Sequence[float] | None = None) -> Any:
    """Build the uncompiled per-event classifier.

    Parameters
    ----------
    input_shape : tuple of int
        ``(F,)`` features per event.
    cfg : hepc9.config.ModelConfig
        Uses ``event_units`` and ``event_head`` (``quadratic``: logits smooth in δC9,
        :mod:`hepc9.models.quadratic_head`; ``free``: one logit per class).
    n_classes : int
        Number K of δC9 classes (grid values or bins of the prior).
    nodes : sequence of float, optional
        δC9 of the classes (the quadratic head needs them; default K evenly spaced values).

    Returns
    -------
    keras.Model
        Maps float32 ``(batch, F)`` to logits ``(batch, K)``.
    """
    import keras
    from keras import layers

    if len(input_shape) != 1:
        raise ShapeError(
            f"the event model needs items of shape (n_features,), got {tuple(input_shape)}"
        )
    if n_classes < 2:
        raise ConfigError(f"the event model needs at least 2 δC9 grid values, got {n_classes}")
    inputs = keras.Input(shape=(int(input_shape[0]),), name="event")
    h = inputs
    for i, units in enumerate(cfg.event_units):
        h = layers.Dense(units, activation="relu", name=f"hidden_{i}")(h)
    if getattr(cfg, "event_head", "free") == "quadratic":
        from hepc9.models.quadratic_head import QuadraticLogits

        node_list = (list(nodes) if nodes is not None
                     else np.linspace(-1.0, 1.0, int(n_classes)).tolist())
        if len(node_list) != n_classes:
            raise ShapeError(f"{len(node_list)} class nodes for {n_classes} classes")
        raw = layers.Dense(3, dtype="float32", name="coefficients")(h)
        outputs = QuadraticLogits(node_list, dtype="float32", name="logits")(raw)
    else:
        outputs = layers.Dense(int(n_classes), dtype="float32", name="logits")(h)
    return keras.Model(inputs, outputs, name="event_classifier")


def set_log_posterior(
    logits: np.ndarray, *, mask: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """Combine per-event logits of sets into normalised log posteriors over the grid.

    Parameters
    ----------
    logits : ndarray, shape (..., n, K)
        Per-event logits; the second-to-last axis runs over the events of a set.
    mask : ndarray of bool, shape (..., n), optional
        Events to use (``False`` = padding).
    offsets : ndarray, shape (K,), optional
        Per-event calibration offsets (see :func:`fit_set_offsets`): ``n · offsets`` is added
        to the summed log-probabilities of a set of ``n`` events.

    Returns
    -------
    ndarray, shape (..., K), float64
        log p(δC9_k | set) with a flat prior, normalised so that ``exp`` sums to 1.
    """
    lp = log_softmax(logits, axis=-1)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != lp.shape[:-1]:
            raise ShapeError(f"mask shape {m.shape} does not match the events {lp.shape[:-1]}")
        lp = np.where(m[..., None], lp, 0.0)
        n = np.sum(m, axis=-1)[..., None]
    else:
        n = lp.shape[-2]
    total = np.sum(lp, axis=-2)
    if offsets is not None:
        total = total + n * np.asarray(offsets, dtype=np.float64)
    return log_softmax(total, axis=-1)


def fit_set_offsets(
    summed: np.ndarray, n_events: np.ndarray | float, true_index: np.ndarray,
    basis: np.ndarray | None = None,
) -> np.ndarray:
    """Fit per-event class offsets that calibrate set posteriors on held-out sets.

    Summing per-event log-probabilities over n events multiplies any systematic error of the
    per-event classifier by n (an offset of 10⁻³ nats per event is one nat per 1000 events).
    The offsets c (one per grid value, mean zero) maximise Σ_s log softmax(S_s + n_s c)[k_s]
    over held-out sets s with true grid index k_s; the problem is convex in c.

    Parameters
    ----------
    summed : ndarray, shape (S, K)
        Σ_i log_softmax(logits_i) of each held-out set.
    n_events : ndarray, shape (S,), or float
        Events per set.
    true_index : ndarray of int, shape (S,)
        Grid index of each set's true δC9.
    basis : ndarray, shape (K, P), optional
        Smooth offsets c = basis @ p with P coefficients p (e.g. ``[t, t²]`` in the
        normalised δC9 t); default one free offset per class.

    Returns
    -------
    ndarray, shape (K,) or (P,)
        Offsets per event (nats), summing to zero; with ``basis`` its coefficients p.
    """
    from scipy.optimize import minimize

    s_mat = np.asarray(summed, dtype=np.float64)
    n = np.broadcast_to(np.asarray(n_events, dtype=np.float64), (s_mat.shape[0],))[:, None]
    k = np.asarray(true_index, dtype=np.int64)
    rows = np.arange(s_mat.shape[0])

    b_mat = np.eye(s_mat.shape[1]) if basis is None else np.asarray(basis, dtype=np.float64)

    def objective(coef: np.ndarray) -> tuple[float, np.ndarray]:
        lp = log_softmax(s_mat + n * (b_mat @ coef), axis=-1)
        p = np.exp(lp)
        value = -np.sum(lp[rows, k])
        onehot = np.zeros_like(p)
        onehot[rows, k] = 1.0
        grad = -np.sum(n * (onehot - p), axis=0) @ b_mat
        return float(value), grad

    res = minimize(objective, np.zeros(b_mat.shape[1]), jac=True, method="L-BFGS-B")
    return res.x - res.x.mean() if basis is None else res.x


def posterior_summary(
    log_posterior: np.ndarray, grid: Sequence[float] | np.ndarray, *,
    quantiles: tuple[float, float] = (0.16, 0.84),
) -> dict[str, np.ndarray]:
    """Point estimates and intervals from log posteriors over the δC9 grid.

    Parameters
    ----------
    log_posterior : ndarray, shape (..., K)
        Normalised (or unnormalised) log posteriors.
    grid : array_like, shape (K,)
        δC9 value of each class (strictly increasing).
    quantiles : (float, float)
        Lower and upper posterior quantiles of the interval.

    Returns
    -------
    dict of ndarray, each shape (...)
        ``mean`` and ``std`` (posterior mean and standard deviation of δC9), ``mode`` (grid
        value of the largest posterior), ``lower`` and ``upper`` (quantiles, interpolated
        linearly in the cumulative distribution with each grid value's mass centred on it,
        between the grid values that carry mass).
    """
    g = np.asarray(grid, dtype=np.float64)
    lp = log_softmax(log_posterior, axis=-1)
    if g.ndim != 1 or g.shape[0] != lp.shape[-1]:
        raise ShapeError(f"grid of shape {g.shape} does not match {lp.shape[-1]} classes")
    if np.any(np.diff(g) <= 0):
        raise DataError("the δC9 grid must be strictly increasing")
    p = np.exp(lp)
    mean = np.sum(p * g, axis=-1)
    var = np.maximum(np.sum(p * (g - mean[..., None]) ** 2, axis=-1), 0.0)
    cdf = (np.cumsum(p, axis=-1) - 0.5 * p).reshape(-1, g.size)
    flat_p = p.reshape(-1, g.size)
    out_q = []
    for q in quantiles:
        # interpolate between grid values that carry mass, so a point mass gives its value
        vals = [np.interp(q, c[w > 0], g[w > 0]) for c, w in zip(cdf, flat_p, strict=True)]
        out_q.append(np.array(vals).reshape(mean.shape))
    return {
        "mean": mean,
        "std": np.sqrt(var),
        "mode": g[np.argmax(p, axis=-1)],
        "lower": out_q[0],
        "upper": out_q[1],
    }


def predict_sets(model: Any, info: Mapping[str, Any], x: np.ndarray, *, batch_size: int = 64,
                 quantiles: tuple[float, float] = (0.16, 0.84)) -> dict[str, np.ndarray]:
    """Prediction hook: continuous set posteriors from the per-event outputs of event sets.

    The set log-likelihood is evaluated on a fine δC9 grid over the classes' span
    (:func:`hepc9.models.event_posterior.set_curves`): exactly, for the quadratic head,
    and by a cubic spline through the class nodes for the free head.

    Parameters
    ----------
    model : keras.Model
        Trained per-event classifier.
    info : mapping
        Its ``model.json`` (``labels`` with ``grid``, optionally ``offset_poly`` or
        ``offsets``).
    x : ndarray, shape (N, n, F)
        Event sets as stored (raw features).
    batch_size : int
        Sets per forward pass.
    quantiles : (float, float)
        Posterior quantiles of the interval.

    Returns
    -------
    dict of ndarray, shape (N,)
        ``dc9`` (posterior mean), ``std``, ``lower``, ``upper``, ``mode``.
    """
    theta, log_post = set_curves(model, info, x, batch_size=batch_size)
    summary = posterior_summary(log_post, theta, quantiles=quantiles)
    return {"dc9": summary["mean"], "std": summary["std"], "lower": summary["lower"],
            "upper": summary["upper"], "mode": summary["mode"]}


def calibrate_sets(model: Any, info: Mapping[str, Any], x: Any, y: Any,
                   indices: np.ndarray) -> dict[str, Any] | None:
    """Calibration hook: a smooth per-event offset n (p₁ t + p₂ t²) fitted on held-out sets.

    Summing n per-event log-probabilities multiplies a systematic error of the per-event
    output by n; the offset, a quadratic in the normalised δC9 t (the form of an error of
    log Z), is fitted with :func:`fit_set_offsets` on the fine δC9 grid of the set posterior.

    Parameters
    ----------
    model : keras.Model
        Trained per-event classifier.
    info : mapping
        Its metadata (``labels`` with ``grid``, ``input_normalisation``).
    x : ndarray, shape (N, n, F)
        Calibration sets (independent of the early-stopping sets).
    y : ndarray, shape (N,)
        Their δC9 labels (continuous or on the grid).
    indices : ndarray of int
        Sets to use (at most the first 1024).

    Returns
    -------
    dict or None
        ``{"offset_poly": [p₁, p₂]}`` to merge into the labels, or ``None`` with fewer
        than 2 sets.
    """
    idx = np.asarray(indices)[:1024]
    if idx.size < 2:
        return None
    plain = {**info, "labels": {k: v for k, v in info["labels"].items()
                                if k not in ("offsets", "offset_poly")}}
    theta, curves = set_curves(model, plain, np.asarray(x[idx]), normalise=False)
    true = nearest_index(np.asarray(y[idx], dtype=np.float64), theta)
    grid = np.asarray(info["labels"]["grid"], dtype=np.float64)
    coef = fit_set_offsets(curves, x.shape[1], true, basis=offset_basis(theta, grid))
    return {"offset_poly": [float(c) for c in coef]}
