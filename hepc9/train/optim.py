"""The optimiser, loss and learning-rate schedule of a training run, by their ``[train]`` names.

Each setting is a registry keyed by its configuration value (``[train] loss``, ``optimizer``,
``lr_schedule``), so that the training loop asks the entry what to build instead of comparing
names.  Keras is imported only when something is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hepc9.errors import ConfigError, did_you_mean

__all__ = ["LOSSES", "LR_SCHEDULES", "OPTIMISERS", "LRSchedule", "compile_model"]


def _crossentropy() -> Any:
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _mae() -> Any:
    import keras

    return keras.losses.MeanAbsoluteError()


def _mse() -> Any:
    import keras

    return keras.losses.MeanSquaredError()


#: Loss builders by ``[train] loss`` (or the estimator's own loss).
LOSSES: Mapping[str, Callable[[], Any]] = {"crossentropy": _crossentropy, "mae": _mae,
                                           "mse": _mse}


def _adam(rate: Any, tcfg: Any) -> Any:
    import keras

    return keras.optimizers.Adam(learning_rate=rate)


def _sgd(rate: Any, tcfg: Any) -> Any:
    import keras

    return keras.optimizers.SGD(learning_rate=rate, momentum=tcfg.momentum)


#: Optimiser builders by ``[train] optimizer``: ``(learning rate or schedule, [train]) -> opt``.
OPTIMISERS: Mapping[str, Callable[[Any, Any], Any]] = {"adam": _adam, "sgd": _sgd}


@dataclass(frozen=True, slots=True)
class LRSchedule:
    """How the learning rate evolves during training.

    Attributes
    ----------
    rate : callable
        ``(train config, total optimiser steps) -> float or keras schedule`` given to the
        optimiser.
    callback : callable
        ``(train config) -> keras callback or None``: the callback that adapts the rate from
        the validation loss, if any (its state is saved for resumes).
    """

    rate: Callable[[Any, int], Any]
    callback: Callable[[Any], Any]


def _constant_rate(tcfg: Any, total_steps: int) -> Any:
    return tcfg.learning_rate


def _plateau(tcfg: Any) -> Any:
    import keras

    return keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=tcfg.reduce_lr_factor, patience=tcfg.reduce_lr_patience,
        min_lr=tcfg.min_lr)


def _cosine_rate(tcfg: Any, total_steps: int) -> Any:
    import keras

    # the schedule reads the optimiser's step counter, which a resumed run restores
    return keras.optimizers.schedules.CosineDecay(
        tcfg.learning_rate, decay_steps=max(1, total_steps),
        alpha=min(1.0, tcfg.min_lr / tcfg.learning_rate))


def _no_callback(tcfg: Any) -> Any:
    return None


#: Learning-rate schedules by ``[train] lr_schedule``: ``plateau`` (constant rate, divided by
#: ``reduce_lr_factor`` when the validation loss stalls) and ``cosine`` (decay over all
#: epochs from ``learning_rate`` to ``min_lr``).
LR_SCHEDULES: Mapping[str, LRSchedule] = {
    "plateau": LRSchedule(rate=_constant_rate, callback=_plateau),
    "cosine": LRSchedule(rate=_cosine_rate, callback=_no_callback),
}


def _entry(registry: Mapping[str, Any], name: str, what: str) -> Any:
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown {what} '{name}'{did_you_mean(name, registry)} (choose "
                          f"{', '.join(sorted(registry))})") from None


def compile_model(model: Any, loss_name: str, tcfg: Any, total_steps: int) -> Any:
    """Compile ``model`` with the configured optimiser, loss and learning-rate schedule.

    Parameters
    ----------
    model : keras.Model
        The model to compile.
    loss_name : str
        Key of :data:`LOSSES`.
    tcfg : hepc9.config.TrainConfig
        ``optimizer``, ``learning_rate``, ``lr_schedule`` and their settings.
    total_steps : int
        Optimiser steps over all epochs (the length of a decaying schedule).

    Returns
    -------
    keras callback or None
        The schedule's rate-adapting callback (``None`` for a fixed schedule).
    """
    import keras

    schedule = _entry(LR_SCHEDULES, tcfg.lr_schedule, "[train] lr_schedule")
    opt = _entry(OPTIMISERS, tcfg.optimizer, "[train] optimizer")(
        schedule.rate(tcfg, total_steps), tcfg)
    if tcfg.mixed_precision:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    model.compile(optimizer=opt, loss=_entry(LOSSES, loss_name, "loss")())
    return schedule.callback(tcfg)
