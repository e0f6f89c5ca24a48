"""Where training items come from: stored datasets and fresh streamed batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepc9.errors import DataError, ShapeError

__all__ = ["CALIBRATION_EPOCH", "REFERENCE_EPOCH", "VALIDATION_EPOCH", "ArraySource",
           "StreamSource", "as_source", "gather"]

#: Epoch key of validation batches drawn from a stream (training epochs stay below it):
#: early stopping and the reported metrics.
VALIDATION_EPOCH = 1 << 20
#: Epoch key of the second, independent validation split: calibration only.
CALIBRATION_EPOCH = VALIDATION_EPOCH + 1
#: Epoch key of the label-independent reference batches of the input normalisation.
REFERENCE_EPOCH = VALIDATION_EPOCH + 2


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
    prior : dict, optional
        ``{"low", "high"}`` when the labels are drawn uniformly on an interval.
    background_fraction : str
        ``"fixed"`` or ``"varied"`` (drawn per item).

    Notes
    -----
    Validation batches drawn from the stream itself use the reserved epoch keys
    :data:`VALIDATION_EPOCH` (early stopping, metrics) and :data:`CALIBRATION_EPOCH`
    (calibration), and the input normalisation :data:`REFERENCE_EPOCH`; training never
    reaches them, so the three are independent of the training batches and of each other.
    """

    draw: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
    item_shape: tuple[int, ...]
    labels: np.ndarray
    index: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "images"
    prior: Mapping[str, float] | None = None
    background_fraction: str = "fixed"

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
        prior = getattr(stream, "prior", None)
        return cls(draw=stream.batch, item_shape=shape, labels=np.asarray(stream.grid),
                   index=dict(index), kind="sets" if is_sets else "images", prior=prior,
                   background_fraction=str(getattr(stream, "background_fraction", "fixed")))


def gather(source: StreamSource, epoch: int, steps: int) -> ArraySource:
    """Draw ``steps`` batches of one epoch key from a stream into an in-memory dataset.

    Parameters
    ----------
    source : StreamSource
        The stream.
    epoch : int
        Epoch key (e.g. :data:`VALIDATION_EPOCH`).
    steps : int
        Batches to draw.

    Returns
    -------
    ArraySource
        The items and labels, with the stream's index.
    """
    parts = [source.draw(int(epoch), i) for i in range(int(steps))]
    x = np.concatenate([np.asarray(p[0]) for p in parts])
    y = np.concatenate([np.asarray(p[1]) for p in parts])
    return ArraySource(x, y, dict(source.index))


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
