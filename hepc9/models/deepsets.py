"""Deep Sets regressing δC9 from a set of events (papers/003).

ŷ = ρ(mean_i φ(x_i)): the per-event network φ (Dense + ReLU layers) is applied to every event
of the set, the outputs are averaged over the events, and the set network ρ maps the average to
one linear output (optionally after standardising the mean with running statistics,
``[model] pool_norm``).  The mean makes the model invariant under permutations of the events and
independent of the set size.  With ``mask_padding`` rows whose features are all exactly zero are
padding and are left out of the mean, so sets of different sizes share one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
from keras import layers, ops

from hepc9.errors import ShapeError

__all__ = ["POOL_NORMS", "RunningStandardize", "SetMeanPooling", "build"]


@keras.saving.register_keras_serializable(package="hepc9")
class SetMeanPooling(layers.Layer):
    """Mean over the event axis of a batch of sets, optionally ignoring padding rows.

    Parameters
    ----------
    mask_padding : bool
        Leave out events whose input features are all zero.
    **kwargs
        Passed to :class:`keras.layers.Layer`.

    Notes
    -----
    Called on ``[h, x]`` with ``h`` of shape (batch, n, H) (per-event embeddings) and ``x`` of
    shape (batch, n, F) (the raw inputs, used only for the padding mask); returns
    (batch, H).
    """

    def __init__(self, mask_padding: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_padding = bool(mask_padding)

    def call(self, inputs: Any) -> Any:  # noqa: D102
        h, x = inputs
        if not self.mask_padding:
            return ops.mean(h, axis=1)
        keep = ops.cast(ops.any(ops.not_equal(x, 0), axis=-1), h.dtype)[..., None]
        total = ops.sum(h * keep, axis=1)
        count = ops.maximum(ops.sum(keep, axis=1), ops.cast(1, h.dtype))
        return total / count

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        h_shape = input_shape[0]
        return (h_shape[0], h_shape[-1])

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "mask_padding": self.mask_padding}


@keras.saving.register_keras_serializable(package="hepc9")
class RunningStandardize(layers.Layer):
    """Standardise features with running means and variances, the same in training and use.

    Parameters
    ----------
    momentum : float
        Weight of the old statistics in each update: an exponential moving average, bias
        corrected like Adam's moments (the first batch counts fully), with the pooled-moment
        update of mean and variance (no cancellation in E[x²] − E[x]²).
    epsilon : float
        Added to the variance.  Small: the pooled means of Deep Sets vary from set to set by
        ~1/√N of their per-event spread, a variance far below BatchNormalization's 10⁻³.
    **kwargs
        Passed to :class:`keras.layers.Layer`.

    Notes
    -----
    A training call first folds the batch's mean and variance (over the batch axis) into the
    running statistics, then standardises with them; a prediction uses them as they are.
    Unlike batch normalisation, training never standardises with the batch's own statistics,
    so the validation loss and the predictions see exactly the map the training saw (batch
    statistics are too noisy a reference for means that differ between sets by 1/√N).
    No gradient flows through the statistics.
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape: Any) -> None:  # noqa: D102
        dim = (int(input_shape[-1]),)
        self.moving_mean = self.add_weight(shape=dim, initializer="zeros", trainable=False,
                                           name="moving_mean")
        self.moving_variance = self.add_weight(shape=dim, initializer="ones", trainable=False,
                                               name="moving_variance")
        self.weight_sum = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                          name="weight_sum")

    def call(self, inputs: Any, training: bool | None = None) -> Any:  # noqa: D102
        x = ops.cast(inputs, "float32")
        mean, var = self.moving_mean, self.moving_variance
        if training:
            batch = ops.stop_gradient(x)
            b_mean = ops.mean(batch, axis=0)
            b_var = ops.var(batch, axis=0)
            # pooled moments of the decayed old statistics (weight a) and the batch (weight b)
            a = self.momentum * self.weight_sum
            b = 1.0 - self.momentum
            total = a + b
            shift = b_mean - mean
            mean = mean + (b / total) * shift
            var = (a * var + b * b_var) / total + (a * b / total**2) * ops.square(shift)
            self.moving_mean.assign(mean)
            self.moving_variance.assign(var)
            self.weight_sum.assign(total)
        out = (x - mean) / ops.sqrt(var + self.epsilon)
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:  # noqa: D102
        return input_shape

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


def _no_norm(z: Any) -> Any:
    return z


def _running_norm(z: Any) -> Any:
    return RunningStandardize(name="pool_norm")(z)


#: What follows the pooled mean, by ``[model] pool_norm``: ``none`` (ρ sees the mean itself)
#: or ``running`` (:class:`RunningStandardize`).
POOL_NORMS: Mapping[str, Callable[[Any], Any]] = {"none": _no_norm, "running": _running_norm}


def build(input_shape: tuple[int, ...], cfg: Any) -> keras.Model:
    """Build the uncompiled Deep Sets model.

    Parameters
    ----------
    input_shape : tuple of int
        ``(n, F)``: events per set (``None`` or any size works at call time when the model is
        rebuilt with it) and features per event.
    cfg : hepc9.config.ModelConfig
        Uses ``phi_units``, ``rho_units``, ``mask_padding`` and ``pool_norm``.

    Returns
    -------
    keras.Model
        Maps float32 ``(batch, n, F)`` to ``(batch, 1)`` (standardised δC9).
    """
    if len(input_shape) != 2:
        raise ShapeError(
            f"deepsets needs set items of shape (n_events, n_features), got {tuple(input_shape)}"
        )
    inputs = keras.Input(shape=(None, int(input_shape[1])), name="events")
    h = inputs
    for i, units in enumerate(cfg.phi_units):
        h = layers.Dense(units, activation="relu", name=f"phi_{i}")(h)
    z = SetMeanPooling(cfg.mask_padding, name="mean_pool")([h, inputs])
    z = POOL_NORMS[cfg.pool_norm](z)
    for i, units in enumerate(cfg.rho_units):
        z = layers.Dense(units, activation="relu", name=f"rho_{i}")(z)
    outputs = layers.Dense(1, activation="linear", dtype="float32", name="dc9")(z)
    return keras.Model(inputs, outputs, name="deepsets")
