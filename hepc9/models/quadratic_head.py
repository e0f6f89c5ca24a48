"""A classifier head whose logits are smooth in δC9: log q_x(δC9) − log Z(δC9).

The B0 → K*0μμ rate is exactly quadratic in each real Wilson-coefficient shift (physics.md
§6): p(x | θ) = q_x(θ) / Z(θ) with q_x(θ) = a(x) + b(x) θ + c(x) θ² > 0 and Z(θ) its integral,
another positive quadratic.  With a background of fixed fraction f the per-event density
[(1 − f) q_x(θ) + f g(x) Z(θ)] / Z(θ) keeps that form.  A classifier trained on labels drawn
uniformly over a prior estimates p(θ | x) ∝ p(x | θ), so its class logits at the bin centres θ_k
can be written

    logit_k(x) = log q_x(t_k) − log Z(t_k),      t = (θ − centre) / half-width ∈ [−1, 1],

with the per-event quadratic q_x from three network outputs and the global quadratic Z from
three trainable weights.  It is still trained as a classifier (cross-entropy over the bins),
but its log-likelihood is defined for every continuous θ, so the set posterior
Σ_i log q_i(θ) − n log Z(θ) has no staircase between the bins.

Positivity: q(t) = α + β t + γ t² with α = softplus(u) + ε, γ = softplus(w) + ε and
β = 2 √(αγ) · 0.999 · tanh(v), whose minimum α − β²/(4γ) > 0.  :func:`quadratic_log` is the
numpy twin used in prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers, ops

__all__ = ["QuadraticLogits", "normalised_theta", "quadratic_log", "quadratic_terms"]

_EPS = 1e-4
_SHRINK = 0.999


def normalised_theta(theta: Any, nodes: Sequence[float] | np.ndarray) -> np.ndarray:
    """Map δC9 to t ∈ [−1, 1] over the span of ``nodes`` (float64)."""
    g = np.asarray(nodes, dtype=np.float64)
    centre, half = 0.5 * (g[0] + g[-1]), 0.5 * (g[-1] - g[0])
    return (np.asarray(theta, dtype=np.float64) - centre) / half


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def quadratic_terms(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the positive quadratic's (α, β, γ) from raw coefficients (numpy, float64).

    Parameters
    ----------
    raw : ndarray, shape (..., 3)
        Unconstrained (u, v, w).

    Returns
    -------
    tuple of ndarray, shape (..., 1) each
        q(t) = α + β t + γ t² > 0 for every t.
    """
    r = np.asarray(raw, dtype=np.float64)
    a = _softplus(r[..., 0:1]) + _EPS
    c = _softplus(r[..., 2:3]) + _EPS
    return a, 2.0 * np.sqrt(a * c) * _SHRINK * np.tanh(r[..., 1:2]), c


def quadratic_log(raw: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return log q(t) for raw coefficients (numpy twin of the Keras head).

    Parameters
    ----------
    raw : ndarray, shape (..., 3)
        Unconstrained (u, v, w).
    t : ndarray, shape (T,)
        Normalised δC9 values.

    Returns
    -------
    ndarray, shape (..., T), float64
    """
    a, b, c = quadratic_terms(raw)
    tt = np.asarray(t, dtype=np.float64)
    return np.log(a + b * tt + c * tt * tt)


def _quadratic_log_ops(raw: Any, t: Any) -> Any:
    a = ops.softplus(raw[..., 0:1]) + _EPS
    c = ops.softplus(raw[..., 2:3]) + _EPS
    b = 2.0 * ops.sqrt(a * c) * _SHRINK * ops.tanh(raw[..., 1:2])
    return ops.log(a + b * t + c * t * t)


@keras.saving.register_keras_serializable(package="hepc9")
class QuadraticLogits(layers.Layer):
    """Logits log q_x(t_k) − log Z(t_k) at the class nodes from per-event raw coefficients.

    Parameters
    ----------
    nodes : sequence of float
        δC9 of the classes (bin centres), increasing.
    **kwargs
        Passed to :class:`keras.layers.Layer`.

    Notes
    -----
    Called on ``(batch, 3)`` raw coefficients; returns ``(batch, K)`` float32 logits.  The
    global quadratic Z is the trainable weight ``z`` (shape (3,)).
    """

    def __init__(self, nodes: Sequence[float] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nodes = [float(v) for v in nodes]
        self.t = normalised_theta(self.nodes, self.nodes).astype(np.float32)

    def build(self, input_shape: Any) -> None:  # noqa: D102
        self.z = self.add_weight(shape=(3,), initializer="zeros", name="z")

    def call(self, raw: Any) -> Any:  # noqa: D102
        t = ops.convert_to_tensor(self.t[None, :], dtype=raw.dtype)
        log_z = _quadratic_log_ops(ops.cast(self.z, raw.dtype)[None, :], t)
        return _quadratic_log_ops(raw, t) - log_z

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        return (input_shape[0], len(self.nodes))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "nodes": self.nodes}

    def log_z(self, t: np.ndarray) -> np.ndarray:
        """Return log Z(t) (float64, shape (T,)) from the trained weight."""
        return quadratic_log(np.asarray(ops.convert_to_numpy(self.z))[None, :], t)[0]
