"""The training loop: one registered estimator on stored or streamed items, saved with its metadata.

:func:`train_model` reads everything estimator-specific from the model's registry entry
(:class:`hepc9.models.EstimatorSpec`): the dataset kind it needs, the input shape (whole items
or single events), the target (standardised δC9 or class index over the label grid) and its
loss, the batch size, and the calibration run after training.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, DataError, OutputExistsError, ShapeError
from hepc9.models import META_FILE, _backend, build_model, get_spec, save_model
from hepc9.seeding import seed_sequence
from hepc9.train.batches import make_array_batches, make_stream_batches
from hepc9.train.callbacks import BACKUP_DIR, HISTORY_FILE, callback_classes, check_backup
from hepc9.train.metrics import validation_metrics
from hepc9.train.model_info import model_info, plain_config, training_record
from hepc9.train.optim import compile_model
from hepc9.train.sources import (
    CALIBRATION_EPOCH,
    REFERENCE_EPOCH,
    VALIDATION_EPOCH,
    ArraySource,
    as_source,
    gather,
)
from hepc9.train.warm_start import freeze_layers, initial_weights, set_initial_weights

__all__ = ["TrainResult", "fresh_output", "member_seed", "train_model"]

#: Validation sets used to calibrate an estimator after training (see ``calibrator``).
_CALIBRATION_ITEMS = 1024


@dataclass(frozen=True)
class TrainResult:
    """Summary of one training run.

    Attributes
    ----------
    output : str
        Folder holding the saved model and ``history.json``.
    model : str
        Registry name.
    epochs_run : int
        Epochs completed (including those before a resume).
    best_epoch : int
        Epoch (0-based) whose weights were kept.
    best_val_loss : float
        Validation loss at ``best_epoch`` (training units: standardised δC9 or cross-entropy).
    validation : dict
        Metrics in δC9 units on the validation items: ``mae``, ``rmse``, ``bias``, ``corr``
        (Pearson correlation of predicted and true δC9), ``n``.
    backend : str
        Keras backend used.
    """

    output: str
    model: str
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    validation: dict[str, float]
    backend: str

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-compatible data."""
        return dataclasses.asdict(self)


def member_seed(seed: int, member: int) -> int:
    """Return the Keras seed of ensemble ``member`` (a 31-bit integer from the run seed).

    Parameters
    ----------
    seed : int
        Run master seed.
    member : int
        Ensemble member index.

    Returns
    -------
    int
    """
    state = seed_sequence(seed, "train", 1, member).generate_state(1, dtype=np.uint32)
    return int(state[0] & 0x7FFFFFFF)


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.Generator(np.random.PCG64(seed_sequence(seed, "train", 0))).permutation(n)
    n_val = max(1, round(n * fraction))
    if n - n_val < 1:
        raise DataError(f"{n} item(s) are too few to keep {fraction:.0%} for validation")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _halves(idx: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split validation items into two disjoint seeded halves (stopping, calibration)."""
    if idx.size < 2:
        return idx, idx[:0]
    gen = np.random.Generator(np.random.PCG64(seed_sequence(seed, "train", 4)))
    order = gen.permutation(idx)
    half = (idx.size + 1) // 2
    return np.sort(order[:half]), np.sort(order[half:])


def fresh_output(output: str | os.PathLike[str], overwrite: bool) -> Path:
    """Return the model folder, refusing one that holds a finished model unless ``overwrite``.

    Raises
    ------
    OutputExistsError
        If ``output`` already holds a finished model and ``overwrite`` is false.
    """
    out = Path(output)
    if (out / META_FILE).exists() and not overwrite:
        raise OutputExistsError(
            f"{out} already holds a trained model; choose another --output or remove it")
    return out


def train_model(
    data: Any,
    *,
    model_name: str,
    cfg: Any,
    output: str | os.PathLike[str],
    validation: Any = None,
    epochs: int | None = None,
    backend: str | None = None,
    overwrite: bool = False,
    verbose: int | str = 0,
    callbacks: Sequence[Any] = (),
    init_from: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a registered model and save it with its metadata.

    Parameters
    ----------
    data : dataset, (x, y), ArraySource or StreamSource
        Training items.  A stored dataset without ``validation`` is split with
        ``cfg.train.validation_fraction`` (seeded by ``cfg.seed``).
    model_name : str
        Registry name (``resnet3d``, ``deepsets``, ``event``).
    cfg : hepc9.config.Config
        Uses ``[model]``, ``[train]`` and ``seed``.
    output : path
        Output folder; an interrupted run in it is resumed.
    validation : dataset, (x, y) or ArraySource, optional
        Validation items, cut into two disjoint seeded halves: early stopping and the
        reported metrics use one, the calibration the other.  Without them, stored data
        are split, and a :class:`StreamSource` draws ``[train] validation_steps`` batches
        with the reserved key :data:`VALIDATION_EPOCH` (early stopping, metrics) and
        ``calibration_steps`` with :data:`CALIBRATION_EPOCH` (calibration), once.
    epochs : int, optional
        Overrides ``cfg.train.epochs``.
    backend : str, optional
        Keras backend (precedence of design.md §4: this, ``cfg.train.backend``,
        ``KERAS_BACKEND``, TensorFlow).
    overwrite : bool
        Replace a finished model in ``output``.
    verbose : int or str
        Keras progress output (0 silent, ``"auto"`` a progress bar).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks (after the built-in ones).
    init_from : path, optional
        Start from the weights of this saved model of the same architecture (fine-tuning,
        :mod:`hepc9.train.warm_start`); its input and label standardisation are kept and the
        layers of ``[train] freeze_layers`` stay fixed.

    Returns
    -------
    TrainResult

    Raises
    ------
    OutputExistsError
        If ``output`` already holds a finished model and ``overwrite`` is false.
    ConfigError
        If the model does not fit the dataset kind.
    """
    out = fresh_output(output, overwrite)
    used_backend = _backend.select(backend, cfg.train.backend)
    import keras

    tcfg = cfg.train
    n_epochs = int(epochs if epochs is not None else tcfg.epochs)
    if n_epochs <= 0:
        raise ConfigError(f"epochs = {n_epochs} must be positive")
    source = as_source(data)
    spec = get_spec(model_name)
    per_event = spec.per_event

    # two disjoint validation splits: early stopping (and the reported metrics) on one,
    # calibration on the other
    calib_source: ArraySource | None = None
    if isinstance(source, ArraySource):
        if validation is None:
            train_idx, val_all = _split(source.x.shape[0], tcfg.validation_fraction, cfg.seed)
            val_source: ArraySource = source
        else:
            given = as_source(validation)
            if not isinstance(given, ArraySource):
                raise DataError("the validation data must be stored items, not a stream")
            val_source = given
            if tuple(val_source.x.shape[1:]) != tuple(source.x.shape[1:]):
                raise ShapeError(
                    f"validation items {tuple(val_source.x.shape[1:])} differ from training "
                    f"items {tuple(source.x.shape[1:])}"
                )
            train_idx = np.arange(source.x.shape[0])
            val_all = np.arange(val_source.x.shape[0])
        val_idx, calib_idx = _halves(val_all, cfg.seed)
        train_labels = np.asarray(source.y)[train_idx]
        info = model_info(spec, cfg, source, train_labels, source.x)
    else:
        if n_epochs >= VALIDATION_EPOCH:
            raise ConfigError(f"epochs = {n_epochs} must stay below {VALIDATION_EPOCH}")
        reference_x, _ = source.draw(REFERENCE_EPOCH, 0)
        info = model_info(spec, cfg, source, np.asarray(source.labels), reference_x)
        if validation is not None:
            given = as_source(validation)
            if not isinstance(given, ArraySource):
                raise DataError("the validation data must be stored items, not a stream")
            val_source = given
            val_idx, calib_idx = _halves(np.arange(val_source.x.shape[0]), cfg.seed)
        else:
            # drawn once from keys training never uses, then reused every epoch
            val_source = gather(source, VALIDATION_EPOCH, tcfg.validation_steps)
            val_idx = np.arange(val_source.x.shape[0])
            calib_source = gather(source, CALIBRATION_EPOCH, tcfg.calibration_steps)
            calib_idx = np.arange(calib_source.x.shape[0])
    if calib_source is None:
        calib_source = val_source
    start = initial_weights(init_from, model_name, info) if init_from is not None else None

    keras.utils.set_random_seed(member_seed(cfg.seed, tcfg.member))
    previous_policy = keras.config.dtype_policy()
    if tcfg.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        extra = spec.build_extra(info["labels"])
        if "n_classes" in extra:
            extra["nodes"] = list(info["labels"]["grid"])
        model = build_model(model_name, tuple(info["input_shape"]), cfg.model, **extra)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    frozen: list[str] = []
    if start is not None and init_from is not None:
        set_initial_weights(model, start, init_from)
        frozen = freeze_layers(model, tcfg.freeze_layers)

    shuffle = seed_sequence(cfg.seed, "train", 2, tcfg.member) if tcfg.shuffle else None
    # per-event estimators see single events: their batches count events, not sets
    batch_size = spec.batch_size(tcfg)
    if isinstance(source, ArraySource):
        train_ds = make_array_batches(source, train_idx, info, batch_size=batch_size,
                                      shuffle=shuffle, per_event=per_event)
    else:
        train_ds = make_stream_batches(source, info, steps=tcfg.steps_per_epoch,
                                       per_event=per_event)
    val_ds = make_array_batches(val_source, val_idx, info, batch_size=batch_size,
                                per_event=per_event)
    plateau = compile_model(model, spec.loss_name(tcfg), tcfg,
                            total_steps=n_epochs * len(train_ds))

    out.mkdir(parents=True, exist_ok=True)
    backup = out / BACKUP_DIR
    check_backup(backup, {"model": model_name, "config_digest": info["config_digest"],
                           "member": tcfg.member}, overwrite=overwrite)
    label_std = float(info["labels"].get("std", 1.0))
    classes = callback_classes()
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=tcfg.early_stopping_patience,
        restore_best_weights=tcfg.restore_best_weights)
    cbs = [
        classes["BackupAndRestore"](backup / "keras"),
        classes["EpochSync"]([train_ds]),
        *([plateau] if plateau is not None else []),
        stopper,
        classes["CallbackState"](backup, plateau, stopper),
        classes["HistoryWriter"](out / HISTORY_FILE, label_std),
        keras.callbacks.TerminateOnNaN(),
        *callbacks,
    ]
    # a finished model is only written after fit() returns, so an interruption anywhere
    # leaves the backup and no model.json
    # shuffle=False: the datasets shuffle themselves from the seed and the epoch number; Keras'
    # own batch shuffling draws from a global stream that a resumed run cannot reproduce
    model.fit(train_ds, validation_data=val_ds, epochs=n_epochs, callbacks=cbs,
              verbose=verbose, shuffle=False)
    history = json.loads((out / HISTORY_FILE).read_text(encoding="utf-8"))["epochs"]
    val_losses = [e.get("val_loss", math.inf) for e in history]
    best_epoch = int(np.argmin(val_losses)) if val_losses else 0

    info["training"] = {
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "best_val_loss": float(val_losses[best_epoch]) if val_losses else math.nan,
        "optimizer": tcfg.optimizer,
        "loss": spec.loss_name(tcfg),
        "batch_size": tcfg.batch_size,
        "mixed_precision": tcfg.mixed_precision,
        "train_config": plain_config(tcfg),
        "init_from": None if init_from is None else str(init_from),
        "frozen_layers": frozen,
        **training_record(source),
        "validation_items": int(val_idx.size),
        "calibration_items": int(calib_idx.size),
    }
    calibrate = spec.get_calibrator()
    if calibrate is not None and tcfg.calibrate_sets and calib_idx.size >= 2:
        update = calibrate(model, info, calib_source.x, calib_source.y,
                           calib_idx[:_CALIBRATION_ITEMS])
        if update:
            info["labels"].update(update)
    metrics = validation_metrics(spec, model, info, val_ds)
    info["validation"] = metrics
    save_model(model, out, info, overwrite=True)
    shutil.rmtree(backup, ignore_errors=True)
    return TrainResult(
        output=str(out), model=model_name, epochs_run=len(history), best_epoch=best_epoch,
        best_val_loss=info["training"]["best_val_loss"], validation=metrics,
        backend=used_backend,
    )
