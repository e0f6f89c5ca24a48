"""Training and prediction of the neural δC9 estimators (Keras 3, any backend).

:func:`train_model` trains a registered model (:mod:`hepc9.models`) on a stored dataset
(images ``(N, X, Y, Z, C)`` or event sets ``(N, n, F)`` with float32 δC9 labels) or on batches
streamed fresh from the sampler, with the defaults of papers/002: SGD, mean absolute error,
batch 128, learning rate × 0.2 after 5 epochs without validation improvement down to 10⁻⁶,
early stopping after 20 epochs keeping the best weights, at most 1000 epochs.  It writes into
its output folder

* ``model.keras`` + ``model.json`` (see :func:`hepc9.models.save_model`): builder and
  arguments, item shape, label standardisation or the δC9 grid of the event classifier, input
  normalisation, the dataset's index information, configuration digest, versions, backend;
* ``history.json``, rewritten after every epoch (losses, learning rate);
* ``backup/`` while training runs: weights, optimiser and callback state after every epoch, so
  that calling :func:`train_model` again after an interruption resumes where it stopped and
  ends with the same model as an uninterrupted run.  It is removed when training finishes.

:func:`predict` turns inputs built exactly as in training into δC9 values: the regression
models undo the label standardisation, the event classifier combines its per-event
log-probabilities over each set into a posterior over the grid (flat prior) and returns the
posterior mean, standard deviation and quantiles.

Keras is imported only inside the functions (after :func:`hepc9.models._backend.select`), so the
backend can still be chosen when this module is imported.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.artifacts import atomic_path, write_json
from hepc9.errors import ConfigError, DataError, OutputExistsError, ShapeError
from hepc9.models import META_FILE, _backend, build_model, load_model, save_model
from hepc9.seeding import seed_sequence

__all__ = [
    "VALIDATION_EPOCH",
    "ArraySource",
    "StreamSource",
    "TrainResult",
    "as_source",
    "load_predictor",
    "make_array_batches",
    "make_stream_batches",
    "member_seed",
    "predict",
    "prepare_inputs",
    "train_model",
]

log = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
#: Epoch key of validation batches drawn from a stream (training epochs stay below it).
VALIDATION_EPOCH = 1 << 20
BACKUP_DIR = "backup"
_STATE_FILE = "callbacks.json"
_BEST_FILE = "best_weights.npz"
_SET_MODELS = ("deepsets", "event")
_LABEL_DECIMALS = 6


# --------------------------------------------------------------------------------------------
# data sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArraySource:
    """A stored dataset: items and δC9 labels, memory-mapped or in memory.

    Parameters
    ----------
    x : ndarray, shape (N, X, Y, Z, C) or (N, n, F)
        Images or event sets; float16 or float32 (cast to float32 per batch).
    y : ndarray, shape (N,)
        δC9 labels (values, never class indices).
    index : dict
        The dataset's ``index.json`` (empty for plain arrays); stored with the model so that
        prediction builds inputs the same way.
    """

    x: Any
    y: Any
    index: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.x.shape) not in (3, 5):
            raise ShapeError(
                f"dataset items have shape {tuple(self.x.shape)}; expected images "
                "(N, X, Y, Z, C) or event sets (N, n, F)"
            )
        if len(self.y.shape) != 1 or self.y.shape[0] != self.x.shape[0]:
            raise ShapeError(
                f"labels of shape {tuple(self.y.shape)} do not match {self.x.shape[0]} items"
            )
        if self.x.shape[0] == 0:
            raise DataError("the dataset holds no items")

    @property
    def kind(self) -> str:
        """``"images"`` or ``"sets"``."""
        kind = self.index.get("kind")
        if kind in ("images", "sets"):
            return str(kind)
        return "images" if len(self.x.shape) == 5 else "sets"


@dataclass(frozen=True)
class StreamSource:
    """Batches drawn fresh for every step, e.g. from :class:`hepc9.datasets.stream.ImageStream`.

    Parameters
    ----------
    draw : callable
        ``draw(epoch, index) -> (x, y)``: batch ``index`` of ``epoch`` as items (float32,
        shape (B, ...)) and δC9 labels (B,); a pure function of its keys, so that a batch is
        the same whenever it is drawn (``ImageStream.batch`` is one).
    item_shape : tuple of int
        Shape of one item.
    labels : ndarray
        The δC9 values the source draws from (for the label standardisation or the grid).
    index : dict
        Description of how items are built (image spec, set standardisation, events per
        item), as in ``index.json``.
    kind : str
        ``"images"`` or ``"sets"``.

    Notes
    -----
    Validation batches drawn from the stream itself use the reserved epoch key
    :data:`VALIDATION_EPOCH`, which training never reaches.
    """

    draw: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
    item_shape: tuple[int, ...]
    labels: np.ndarray
    index: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "images"

    @classmethod
    def from_stream(cls, stream: Any, *, index: Mapping[str, Any] | None = None) -> StreamSource:
        """Wrap a :class:`hepc9.datasets.stream.ImageStream` (or any object with ``batch``).

        Parameters
        ----------
        stream : ImageStream
            Source with ``batch(epoch, index)``, ``spec`` and ``grid``.
        index : mapping, optional
            Index information to store with the model; default built from the stream's spec.

        Returns
        -------
        StreamSource
        """
        spec = stream.spec
        is_sets = hasattr(spec, "features") and hasattr(spec, "standardise")
        events = int(stream.cfg.datasets.events_per_image)
        if index is None:
            index = {"kind": "sets" if is_sets else "images", "events_per_item": events,
                     ("standardisation" if is_sets else "spec"): spec.to_dict()}
            if is_sets:
                index["features"] = list(spec.features)
        shape = (events, len(spec.features)) if is_sets else tuple(spec.shape)
        return cls(draw=stream.batch, item_shape=shape, labels=np.asarray(stream.grid),
                   index=dict(index), kind="sets" if is_sets else "images")


def as_source(data: Any) -> ArraySource | StreamSource:
    """Wrap a dataset object (``x``, ``y``, ``index`` attributes), an ``(x, y)`` pair or a source.

    Parameters
    ----------
    data : object
        :class:`ArraySource`, :class:`StreamSource`, an object with ``x`` and ``y`` (and
        optionally ``index``) attributes such as :func:`hepc9.datasets.store.open_dataset`'s,
        or a tuple ``(x, y)``.

    Returns
    -------
    ArraySource or StreamSource
    """
    if isinstance(data, ArraySource | StreamSource):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return ArraySource(np.asarray(data[0]), np.asarray(data[1]))
    if hasattr(data, "x") and hasattr(data, "y"):
        index = getattr(data, "index", None) or {}
        return ArraySource(data.x, data.y, dict(index))
    raise DataError(
        f"cannot train on a {type(data).__name__}; pass a dataset folder, a Dataset, (x, y) "
        "arrays or a StreamSource"
    )


# --------------------------------------------------------------------------------------------
# input preparation (shared by training and prediction)
# --------------------------------------------------------------------------------------------


def _feature_normalisation(x: Any, *, mask_padding: bool, limit: int = 200_000) -> dict:
    """Mean and standard deviation of every event feature over (up to ``limit``) events."""
    n_items = x.shape[0]
    per_item = x.shape[1]
    take = max(1, min(n_items, math.ceil(limit / max(per_item, 1))))
    sample = np.asarray(x[:take], dtype=np.float64).reshape(-1, x.shape[-1])
    if mask_padding:
        sample = sample[np.any(sample != 0, axis=1)]
    if sample.shape[0] < 2:
        raise DataError("too few events to standardise the features (need at least 2)")
    mean = sample.mean(axis=0)
    std = sample.std(axis=0)
    std[~(std > 0)] = 1.0
    return {"mean": mean.tolist(), "std": std.tolist(), "mask_padding": bool(mask_padding)}


def prepare_inputs(x: Any, info: Mapping[str, Any]) -> np.ndarray:
    """Turn stored items into the float32 model inputs, exactly as in training.

    Parameters
    ----------
    x : ndarray, shape (B, X, Y, Z, C) or (B, n, F)
        Images (used as stored) or event sets (features standardised with the constants in
        ``info["input_normalisation"]``; all-zero padding rows stay zero when masking).
    info : mapping
        The model metadata (``model.json``) or the part of it built during training.

    Returns
    -------
    ndarray, float32
        Same shape as ``x``.
    """
    out = np.asarray(x, dtype=np.float32)
    norm = info.get("input_normalisation")
    if norm:
        mean = np.asarray(norm["mean"], dtype=np.float32)
        std = np.asarray(norm["std"], dtype=np.float32)
        if out.shape[-1] != mean.shape[0]:
            raise ShapeError(
                f"items have {out.shape[-1]} features per event, the model expects {mean.shape[0]}"
            )
        scaled = (out - mean) / std
        if norm.get("mask_padding"):
            keep = np.any(out != 0, axis=-1, keepdims=True)
            scaled = np.where(keep, scaled, np.float32(0))
        out = scaled.astype(np.float32, copy=False)
    return out


def _label_grid(y: np.ndarray) -> np.ndarray:
    grid = np.unique(np.round(np.asarray(y, dtype=np.float64), _LABEL_DECIMALS))
    if grid.size < 2:
        raise DataError(
            f"the labels take {grid.size} distinct value(s); an estimator needs at least 2 δC9 "
            "values"
        )
    return grid


def _class_indices(y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    y64 = np.round(np.asarray(y, dtype=np.float64), _LABEL_DECIMALS)
    pos = np.clip(np.searchsorted(grid, y64), 0, grid.size - 1)
    lower = np.clip(pos - 1, 0, grid.size - 1)
    pos = np.where(np.abs(grid[lower] - y64) < np.abs(grid[pos] - y64), lower, pos)
    bad = np.abs(grid[pos] - y64) > 10.0**-_LABEL_DECIMALS
    if np.any(bad):
        raise DataError(
            f"label δC9 = {float(y64[bad][0])} is not on the training grid of the event model "
            f"({grid.size} values in [{grid[0]}, {grid[-1]}])"
        )
    return pos.astype(np.int32)


def _encode_labels(y: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
    labels = info["labels"]
    if labels["kind"] == "grid":
        return _class_indices(y, np.asarray(labels["grid"]))
    return ((np.asarray(y, dtype=np.float64) - labels["mean"]) / labels["std"]).astype(
        np.float32
    )


# --------------------------------------------------------------------------------------------
# Keras datasets (PyDataset subclasses are made on first use, after the backend is chosen)
# --------------------------------------------------------------------------------------------


class _ArrayBatchesMixin:
    """Batches of stored items, reshuffled per epoch from the seed and the epoch number."""

    def _setup(self, source: ArraySource, indices: np.ndarray, info: Mapping[str, Any], *,
               batch_size: int, shuffle: np.random.SeedSequence | None,
               per_event: bool) -> None:
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)
        self.info = info
        self.batch_size = int(batch_size)
        self.shuffle_seed = shuffle
        self.per_event = per_event
        self.n_per_item = int(source.x.shape[1]) if per_event else 1
        self.order = self._expand(self.indices)
        self.set_epoch(0)

    def _expand(self, idx: np.ndarray) -> np.ndarray:
        if not self.per_event:
            return idx
        return (idx[:, None] * self.n_per_item + np.arange(self.n_per_item)).ravel()

    def set_epoch(self, epoch: int) -> None:
        """Fix the item order of ``epoch`` (a pure function of the seed and the epoch)."""
        base = self._expand(self.indices)
        if self.shuffle_seed is None:
            self.order = base
        else:
            ss = np.random.SeedSequence(self.shuffle_seed.entropy,
                                        spawn_key=(*self.shuffle_seed.spawn_key, int(epoch)))
            self.order = np.random.Generator(np.random.PCG64(ss)).permutation(base)

    def __len__(self) -> int:
        return max(1, math.ceil(self.order.size / self.batch_size))

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        sel = np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])
        if self.per_event:
            items, rows = np.divmod(sel, self.n_per_item)
            uniq, inv = np.unique(items, return_inverse=True)
            x = np.asarray(self.source.x[uniq])[inv, rows]
            y = np.asarray(self.source.y[uniq])[inv]
        else:
            x = np.asarray(self.source.x[sel])
            y = np.asarray(self.source.y[sel])
        return prepare_inputs(x, self.info), _encode_labels(y, self.info)


class _StreamBatchesMixin:
    """Fresh batches from a :class:`StreamSource`, keyed by ``(epoch, step)``."""

    def _setup(self, source: StreamSource, info: Mapping[str, Any], *, steps: int,
               per_event: bool, fixed_epoch: int | None = None) -> None:
        self.source = source
        self.info = info
        self.steps = int(steps)
        self.per_event = per_event
        self.fixed_epoch = fixed_epoch
        self.epoch = 0 if fixed_epoch is None else int(fixed_epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the random streams of ``epoch`` (ignored for fixed validation batches)."""
        if self.fixed_epoch is None:
            self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.source.draw(self.epoch, int(i))
        x = np.asarray(x)
        y = np.asarray(y)
        if self.per_event:
            n = x.shape[1]
            x = x.reshape(-1, x.shape[-1])
            y = np.repeat(y, n)
        return prepare_inputs(x, self.info), _encode_labels(y, self.info)


def _keras_dataset_class(mixin: type, name: str) -> type:
    import keras

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        keras.utils.PyDataset.__init__(self, workers=1, use_multiprocessing=False)
        self._setup(*args, **kwargs)

    return type(name, (mixin, keras.utils.PyDataset), {"__init__": __init__})


def make_array_batches(source: ArraySource, indices: np.ndarray, info: Mapping[str, Any], *,
                       batch_size: int, shuffle: np.random.SeedSequence | None = None,
                       per_event: bool = False) -> Any:
    """Return a ``keras.utils.PyDataset`` over stored items.

    Parameters
    ----------
    source : ArraySource
        The dataset.
    indices : ndarray of int
        Items to use (a split).
    info : mapping
        Label encoding and input normalisation (``model.json`` entries).
    batch_size : int
        Items (or events, with ``per_event``) per batch.
    shuffle : SeedSequence, optional
        Reshuffle every epoch; epoch ``e`` uses the child stream with spawn key ``(..., e)``.
    per_event : bool
        Yield single events of the sets (event classifier) instead of whole items.

    Returns
    -------
    keras.utils.PyDataset
        ``(x float32, y)`` batches, with ``set_epoch(epoch)``.
    """
    cls = _keras_dataset_class(_ArrayBatchesMixin, "ArrayBatches")
    return cls(source, indices, info, batch_size=batch_size, shuffle=shuffle,
               per_event=per_event)


def make_stream_batches(source: StreamSource, info: Mapping[str, Any], *, steps: int,
                        per_event: bool = False, fixed_epoch: int | None = None) -> Any:
    """Return a ``keras.utils.PyDataset`` drawing ``steps`` fresh batches per epoch.

    Parameters
    ----------
    source : StreamSource
        The batch source.
    info : mapping
        Label encoding and input normalisation.
    steps : int
        Batches per epoch.
    per_event : bool
        Flatten sets into events (event classifier).
    fixed_epoch : int, optional
        Always draw the batches of this epoch key (validation: the same batches every epoch).

    Returns
    -------
    keras.utils.PyDataset
    """
    cls = _keras_dataset_class(_StreamBatchesMixin, "StreamBatches")
    return cls(source, info, steps=steps, per_event=per_event, fixed_epoch=fixed_epoch)


# --------------------------------------------------------------------------------------------
# callbacks (built lazily: they subclass keras.callbacks.Callback)
# --------------------------------------------------------------------------------------------


def _callback_classes() -> dict[str, type]:
    import keras

    class EpochSync(keras.callbacks.Callback):
        """Tell the datasets which epoch starts (shuffling and streams depend on it)."""

        def __init__(self, datasets: Sequence[Any]) -> None:
            super().__init__()
            self.datasets = datasets

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            for ds in self.datasets:
                ds.set_epoch(epoch)

    class HistoryWriter(keras.callbacks.Callback):
        """Write ``history.json`` (one entry per epoch) and log a line per epoch."""

        def __init__(self, path: Path, label_std: float) -> None:
            super().__init__()
            self.path = path
            self.label_std = label_std
            self.entries: list[dict[str, Any]] = []

        def on_train_begin(self, logs: Any = None) -> None:
            start = int(getattr(self.model, "_initial_epoch", 0) or 0)
            if start > 0 and self.path.is_file():
                old = json.loads(self.path.read_text(encoding="utf-8"))["epochs"]
                self.entries = [e for e in old if e["epoch"] < start]
            else:
                self.entries = []

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            entry: dict[str, Any] = {"epoch": int(epoch)}
            for key, value in (logs or {}).items():
                entry[key] = float(value)
            entry["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )
            self.entries.append(entry)
            write_json(self.path, {"label_std": self.label_std, "epochs": self.entries})
            log.info("epoch %s: %s", epoch + 1,
                     ", ".join(f"{k}={v:.5g}" for k, v in entry.items() if k != "epoch"))

    class CallbackState(keras.callbacks.Callback):
        """Save and restore the state of plateau and early-stopping callbacks for resumes."""

        def __init__(self, folder: Path, plateau: Any, stopper: Any) -> None:
            super().__init__()
            self.folder = folder
            self.plateau = plateau
            self.stopper = stopper

        def on_train_begin(self, logs: Any = None) -> None:
            path = self.folder / _STATE_FILE
            start = int(getattr(self.model, "_initial_epoch", 0) or 0)
            if start == 0 or not path.is_file():
                return
            state = json.loads(path.read_text(encoding="utf-8"))
            for key, value in state["plateau"].items():
                setattr(self.plateau, key, value)
            for key, value in state["stopper"].items():
                setattr(self.stopper, key, value)
            self.model.optimizer.learning_rate.assign(state["learning_rate"])
            seeds = _seed_states(self.model)
            for var, value in zip(seeds, state.get("seed_states", []), strict=False):
                var.assign(np.asarray(value, dtype=keras.ops.convert_to_numpy(var).dtype))
            best = self.folder / _BEST_FILE
            if best.is_file():
                with np.load(best, allow_pickle=False) as npz:
                    self.stopper.best_weights = [npz[f"w{i}"] for i in range(len(npz.files))]

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            state = {
                "plateau": {k: _plain(getattr(self.plateau, k))
                            for k in ("wait", "best", "cooldown_counter")},
                "stopper": {k: _plain(getattr(self.stopper, k))
                            for k in ("wait", "best", "best_epoch")},
                "learning_rate": float(
                    keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
                ),
                "seed_states": [keras.ops.convert_to_numpy(v).tolist()
                                for v in _seed_states(self.model)],
            }
            if self.stopper.best_weights is not None and self.stopper.best_epoch == epoch:
                with atomic_path(self.folder / _BEST_FILE, overwrite=True) as tmp, \
                        open(tmp, "wb") as fh:
                    np.savez(fh, **{f"w{i}": np.asarray(w)
                                    for i, w in enumerate(self.stopper.best_weights)})
            write_json(self.folder / _STATE_FILE, state)

    return {"EpochSync": EpochSync, "HistoryWriter": HistoryWriter,
            "CallbackState": CallbackState}


def _seed_states(model: Any) -> list[Any]:
    """Return the random-generator state variables of the layers (dropout), in a fixed order."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def _plain_config(section: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(section)))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return np.asarray(value).item()
    if hasattr(value, "numpy"):
        return np.asarray(value).item()
    return value


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


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


def _model_info(name: str, cfg: Any, source: ArraySource | StreamSource,
                train_labels: np.ndarray, train_x: Any) -> dict[str, Any]:
    """Everything prediction needs to rebuild inputs and decode outputs."""
    from hepc9.models import REGISTRY

    item_shape = (tuple(int(s) for s in source.x.shape[1:]) if isinstance(source, ArraySource)
                  else tuple(int(s) for s in source.item_shape))
    kind = source.kind
    if name == "resnet3d" and kind != "images":
        raise ConfigError(
            f"model 'resnet3d' needs an image dataset, this one holds {kind}; use --model "
            "deepsets or event"
        )
    if name in _SET_MODELS and kind != "sets":
        raise ConfigError(
            f"model '{name}' needs an event-set dataset, this one holds {kind}; use --model "
            "resnet3d"
        )
    info: dict[str, Any] = {
        "model": name,
        "builder": REGISTRY[name],
        "model_config": _plain_config(cfg.model),
        "item_kind": kind,
        "item_shape": list(item_shape),
        "input_shape": list(item_shape[-1:] if name == "event" else item_shape),
        "dataset_index": json.loads(json.dumps(dict(source.index), default=str)),
        "config_digest": cfg.digest(),
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "member": cfg.train.member,
    }
    if kind == "sets":
        info["input_normalisation"] = _feature_normalisation(
            train_x, mask_padding=cfg.model.mask_padding and name == "deepsets")
        info["events_per_set"] = int(item_shape[0])
        info["features"] = list(source.index.get("features", [])) or None
    y = np.asarray(train_labels, dtype=np.float64)
    if name == "event":
        info["labels"] = {"kind": "grid", "grid": _label_grid(y).tolist()}
    elif cfg.train.standardize_labels:
        std = float(y.std())
        if not std > 0:
            raise DataError("all training labels are equal; an estimator needs distinct δC9")
        info["labels"] = {"kind": "standardized", "mean": float(y.mean()), "std": std}
    else:
        info["labels"] = {"kind": "standardized", "mean": 0.0, "std": 1.0}
    return info


def _compile(model: Any, name: str, tcfg: Any) -> None:
    import keras

    if tcfg.optimizer == "sgd":
        opt = keras.optimizers.SGD(learning_rate=tcfg.learning_rate, momentum=tcfg.momentum)
    else:
        opt = keras.optimizers.Adam(learning_rate=tcfg.learning_rate)
    if tcfg.mixed_precision:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    if name == "event":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        loss = keras.losses.MeanAbsoluteError() if tcfg.loss == "mae" else \
            keras.losses.MeanSquaredError()
    model.compile(optimizer=opt, loss=loss)


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
        Validation items.  Without them, stored data are split, and a
        :class:`StreamSource` validates on ``[train] validation_steps`` batches drawn with
        the reserved key :data:`VALIDATION_EPOCH` (the same batches every epoch).
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
    out = Path(output)
    if (out / META_FILE).exists() and not overwrite:
        raise OutputExistsError(
            f"{out} already holds a trained model; choose another --output or remove it"
        )
    used_backend = _backend.select(_backend.resolve(backend, cfg.train.backend))
    import keras

    tcfg = cfg.train
    n_epochs = int(epochs if epochs is not None else tcfg.epochs)
    if n_epochs <= 0:
        raise ConfigError(f"epochs = {n_epochs} must be positive")
    source = as_source(data)
    per_event = model_name == "event"

    if isinstance(source, ArraySource):
        if validation is None:
            train_idx, val_idx = _split(source.x.shape[0], tcfg.validation_fraction, cfg.seed)
            val_source = source
        else:
            val_source = as_source(validation)
            if not isinstance(val_source, ArraySource):
                raise DataError("the validation data must be stored items, not a stream")
            if tuple(val_source.x.shape[1:]) != tuple(source.x.shape[1:]):
                raise ShapeError(
                    f"validation items {tuple(val_source.x.shape[1:])} differ from training "
                    f"items {tuple(source.x.shape[1:])}"
                )
            train_idx = np.arange(source.x.shape[0])
            val_idx = np.arange(val_source.x.shape[0])
        train_labels = np.asarray(source.y)[train_idx]
        info = _model_info(model_name, cfg, source, train_labels, source.x)
    else:
        if n_epochs >= VALIDATION_EPOCH:
            raise ConfigError(f"epochs = {n_epochs} must stay below {VALIDATION_EPOCH}")
        sample_x, _ = source.draw(VALIDATION_EPOCH, 0)
        info = _model_info(model_name, cfg, source, np.asarray(source.labels), sample_x)
        val_source = None
        if validation is not None:
            val_source = as_source(validation)
            if not isinstance(val_source, ArraySource):
                raise DataError("the validation data must be stored items, not a stream")
            val_idx = np.arange(val_source.x.shape[0])

    keras.utils.set_random_seed(member_seed(cfg.seed, tcfg.member))
    previous_policy = keras.config.dtype_policy()
    if tcfg.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        extra = {"n_classes": len(info["labels"]["grid"])} if per_event else {}
        model = build_model(model_name, tuple(info["input_shape"]), cfg.model, **extra)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    _compile(model, model_name, tcfg)

    shuffle = seed_sequence(cfg.seed, "train", 2, tcfg.member) if tcfg.shuffle else None
    # the event classifier sees single events: its batches count events, not sets
    batch_size = tcfg.event_batch_size if per_event else tcfg.batch_size
    if isinstance(source, ArraySource):
        train_ds = make_array_batches(source, train_idx, info, batch_size=batch_size,
                                      shuffle=shuffle, per_event=per_event)
    else:
        train_ds = make_stream_batches(source, info, steps=tcfg.steps_per_epoch,
                                       per_event=per_event)
    if val_source is None:
        # the same validation batches every epoch, from a key training never uses
        val_ds = make_stream_batches(source, info, steps=tcfg.validation_steps,
                                     per_event=per_event, fixed_epoch=VALIDATION_EPOCH)
    else:
        val_ds = make_array_batches(val_source, val_idx, info, batch_size=batch_size,
                                    per_event=per_event)

    out.mkdir(parents=True, exist_ok=True)
    backup = out / BACKUP_DIR
    _check_backup(backup, {"model": model_name, "config_digest": info["config_digest"],
                           "member": tcfg.member}, overwrite=overwrite)
    label_std = float(info["labels"].get("std", 1.0))
    classes = _callback_classes()
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=tcfg.reduce_lr_factor, patience=tcfg.reduce_lr_patience,
        min_lr=tcfg.min_lr)
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=tcfg.early_stopping_patience,
        restore_best_weights=tcfg.restore_best_weights)
    cbs = [
        keras.callbacks.BackupAndRestore(str(backup / "keras"), delete_checkpoint=False),
        classes["EpochSync"]([train_ds]),
        plateau,
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
        "loss": "crossentropy" if per_event else tcfg.loss,
        "batch_size": tcfg.batch_size,
        "mixed_precision": tcfg.mixed_precision,
        "train_config": _plain_config(tcfg),
    }
    if per_event and tcfg.calibrate_sets:
        offsets = _event_offsets(model, info, val_ds)
        if offsets is not None:
            info["labels"]["offsets"] = offsets.tolist()
    metrics = _validation_metrics(model, info, val_ds)
    info["validation"] = metrics
    save_model(model, out, info, overwrite=True)
    shutil.rmtree(backup, ignore_errors=True)
    return TrainResult(
        output=str(out), model=model_name, epochs_run=len(history), best_epoch=best_epoch,
        best_val_loss=info["training"]["best_val_loss"], validation=metrics,
        backend=used_backend,
    )


def _check_backup(backup: Path, run: Mapping[str, Any], *, overwrite: bool) -> None:
    """Make sure a backup left in the folder belongs to this very run before resuming it."""
    path = backup / "run.json"
    if backup.is_dir():
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if old == dict(run):
            log.info("resuming the interrupted run in %s", backup.parent)
            return
        if not overwrite:
            raise OutputExistsError(
                f"{backup.parent} holds an interrupted run of another model or configuration; "
                "resume it with the same settings, or pass overwrite to start anew"
            )
        shutil.rmtree(backup)
    backup.mkdir(parents=True)
    write_json(path, dict(run))


def _validation_metrics(model: Any, info: Mapping[str, Any], val_ds: Any) -> dict[str, float]:
    """δC9-unit metrics of the final model on the validation batches."""
    truths, preds = [], []
    if info["model"] == "event":
        # per-event accuracy is not a δC9 metric: evaluate the posterior mean of each set
        return _event_validation(model, info, val_ds)
    for i in range(len(val_ds)):
        x, y = val_ds[i]
        preds.append(_decode(np.asarray(model.predict_on_batch(x)), info))
        truths.append(np.asarray(y, dtype=np.float64) * info["labels"]["std"]
                      + info["labels"]["mean"])
    return _metrics(np.concatenate(truths), np.concatenate(preds))


def _event_offsets(model: Any, info: Mapping[str, Any], val_ds: Any) -> np.ndarray | None:
    """Set-level calibration offsets of the event classifier from the validation sets."""
    from hepc9.models.event_classifier import fit_set_offsets, log_softmax

    src = getattr(val_ds, "source", None)
    if not isinstance(src, ArraySource):
        return None
    idx = np.asarray(val_ds.indices)[:1024]
    if idx.size < 2:
        return None
    grid = np.asarray(info["labels"]["grid"], dtype=np.float64)
    summed = np.empty((idx.size, grid.size))
    for sl in _batched(idx.size, 64):
        xb = prepare_inputs(np.asarray(src.x[idx[sl]]), info)
        logits = np.asarray(model.predict_on_batch(xb.reshape(-1, xb.shape[-1])), np.float64)
        summed[sl] = log_softmax(logits.reshape(xb.shape[0], xb.shape[1], -1)).sum(axis=1)
    true = _class_indices(np.asarray(src.y[idx]), grid)
    return fit_set_offsets(summed, src.x.shape[1], true)


def _event_validation(model: Any, info: Mapping[str, Any], val_ds: Any) -> dict[str, float]:
    src = getattr(val_ds, "source", None)
    if not isinstance(src, ArraySource):
        return {}
    idx = np.asarray(val_ds.indices)[:256]
    x = np.asarray(src.x[idx])
    out = predict(model, info, x)
    return _metrics(np.asarray(src.y[idx], dtype=np.float64), out["dc9"])


def _metrics(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    diff = pred - truth
    corr = (float(np.corrcoef(truth, pred)[0, 1])
            if truth.size > 1 and np.std(truth) > 0 and np.std(pred) > 0 else math.nan)
    return {"n": int(truth.size), "mae": float(np.mean(np.abs(diff))),
            "rmse": float(np.sqrt(np.mean(diff**2))), "bias": float(np.mean(diff)),
            "corr": corr}


# --------------------------------------------------------------------------------------------
# prediction
# --------------------------------------------------------------------------------------------


def _decode(raw: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
    labels = info["labels"]
    return np.asarray(raw, dtype=np.float64).reshape(-1) * labels["std"] + labels["mean"]


def load_predictor(directory: str | os.PathLike[str], *,
                   backend: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a trained model and its metadata (see :func:`hepc9.models.load_model`).

    Parameters
    ----------
    directory : path
        Saved-model folder.
    backend : str, optional
        Keras backend to select if Keras is not loaded yet.

    Returns
    -------
    (keras.Model, dict)
    """
    return load_model(directory, backend=backend)


def _batched(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def predict(model: Any, info: Mapping[str, Any], x: Any, *, batch_size: int = 64,
            quantiles: tuple[float, float] = (0.16, 0.84)) -> dict[str, np.ndarray]:
    """Predict δC9 for stored-format items.

    Parameters
    ----------
    model : keras.Model
        Trained model.
    info : mapping
        Its ``model.json``.
    x : ndarray, shape (N, X, Y, Z, C) or (N, n, F)
        Items as stored in the training dataset (raw features for sets).
    batch_size : int
        Items per forward pass.
    quantiles : (float, float)
        Posterior quantiles of the event classifier's interval.

    Returns
    -------
    dict of ndarray, shape (N,)
        ``dc9`` (δC9 per item); for the event classifier also ``std``, ``lower``, ``upper``
        (posterior standard deviation and quantiles) and ``mode``.
    """
    from hepc9.models.event_classifier import posterior_summary, set_log_posterior

    x = np.asarray(x)
    expected = tuple(info["item_shape"])
    if info["model"] == "resnet3d":
        if x.ndim != 5 or tuple(x.shape[1:]) != expected:
            raise ShapeError(f"images of shape {tuple(x.shape)} do not match the model's "
                             f"{expected}")
    elif x.ndim != 3 or x.shape[-1] != expected[-1]:
        raise ShapeError(f"event sets of shape {tuple(x.shape)} do not match the model's "
                         f"(N, n, {expected[-1]})")
    if info["model"] == "event":
        grid = np.asarray(info["labels"]["grid"], dtype=np.float64)
        offsets = info["labels"].get("offsets")
        log_post = np.empty((x.shape[0], grid.size))
        for sl in _batched(x.shape[0], batch_size):
            xb = prepare_inputs(x[sl], info)
            flat = xb.reshape(-1, xb.shape[-1])
            logits = np.asarray(model.predict_on_batch(flat), dtype=np.float64)
            log_post[sl] = set_log_posterior(logits.reshape(xb.shape[0], xb.shape[1], -1),
                                             offsets=offsets)
        summary = posterior_summary(log_post, grid, quantiles=quantiles)
        return {"dc9": summary["mean"], "std": summary["std"], "lower": summary["lower"],
                "upper": summary["upper"], "mode": summary["mode"]}
    out = np.empty(x.shape[0])
    for sl in _batched(x.shape[0], batch_size):
        out[sl] = _decode(np.asarray(model.predict_on_batch(prepare_inputs(x[sl], info))), info)
    return {"dc9": out}
