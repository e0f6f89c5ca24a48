"""Keras datasets of training batches (``PyDataset`` subclasses made on first use).

The batch logic lives in two plain mixins; :func:`make_array_batches` and
:func:`make_stream_batches` combine them with ``keras.utils.PyDataset`` only when called, after
the backend is chosen.  Inputs are prepared with :func:`hepc9.models.inputs.prepare_inputs`
and labels encoded with :func:`hepc9.models.targets.encode_labels`, as in prediction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.models.inputs import prepare_inputs
from hepc9.models.targets import encode_labels
from hepc9.train.sources import ArraySource, StreamSource

__all__ = ["make_array_batches", "make_stream_batches"]


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
        return prepare_inputs(x, self.info), encode_labels(y, self.info)


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
        return prepare_inputs(x, self.info), encode_labels(y, self.info)


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
