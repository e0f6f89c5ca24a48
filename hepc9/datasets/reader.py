"""Reading the on-disk dataset store: ``index.json`` checks and memory-mapped chunks.

The format (formats.md §5) and its writers are :mod:`hepc9.datasets.store` (which re-exports
everything here).  :func:`open_dataset` checks the index (:func:`read_index`) and every chunk
header against it, and opens the chunks with ``np.load(mmap_mode="r")`` as one
:class:`ChunkedArray`; :class:`Dataset` casts features to float32 per batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.artifacts import file_digest
from hepc9.datasets.image_spec import ImageSpec
from hepc9.errors import DataError, SchemaError, ShapeError

__all__ = ["DTYPES", "FORMAT", "FORMAT_VERSION", "ChunkedArray", "Dataset", "open_dataset",
           "read_index"]

FORMAT = "hepc9-dataset"
FORMAT_VERSION = 1
#: Allowed feature dtypes on disk.
DTYPES = ("float16", "float32")


def _digest(path: Path) -> str:
    return file_digest(path)


def read_index(directory: str | Path) -> dict[str, Any]:
    """Read and check ``index.json`` of a dataset folder.

    Raises
    ------
    DataError
        The folder does not exist or holds no index (an incomplete build).
    SchemaError
        The index is not a hepc9 dataset index of a supported version.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} does not exist")
    path = folder / "index.json"
    if not path.is_file():
        splits = [p.name for p in sorted(folder.iterdir()) if (p / "index.json").is_file()]
        if splits:
            raise DataError(
                f"{folder} holds the splits {', '.join(splits)}; open one of them, e.g. "
                f"{folder / splits[0]}"
            )
        raise DataError(
            f"{folder} has no index.json: the dataset is incomplete (rerun the build to "
            "finish it) or this is not a dataset folder"
        )
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise SchemaError(f"{path} is not a hepc9 dataset index (format '{FORMAT}' expected)")
    if index.get("format_version") != FORMAT_VERSION:
        raise SchemaError(
            f"{path} has format_version {index.get('format_version')}; this hepc9 reads "
            f"version {FORMAT_VERSION}"
        )
    for key in ("kind", "dtype", "item_shape", "chunks"):
        if key not in index:
            raise SchemaError(f"{path} lacks the key '{key}'")
    return index


class ChunkedArray:
    """Read-only concatenation of memory-mapped chunks along the first axis.

    Parameters
    ----------
    chunks : sequence of ndarray
        Arrays (usually ``np.memmap``) with equal trailing shapes and dtypes.

    Notes
    -----
    Indexing with an integer, a slice or an integer array returns an in-memory copy in
    the stored dtype; only the touched chunks are read.
    """

    def __init__(self, chunks: Sequence[np.ndarray]) -> None:
        self.chunks = list(chunks)
        if self.chunks:
            tail = self.chunks[0].shape[1:]
            dt = self.chunks[0].dtype
            if any(c.shape[1:] != tail or c.dtype != dt for c in self.chunks):
                raise ShapeError("dataset chunks differ in item shape or dtype")
        self._starts = np.concatenate([[0], np.cumsum([len(c) for c in self.chunks])]).astype(
            np.int64
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """``(N, *item_shape)``."""
        tail = self.chunks[0].shape[1:] if self.chunks else ()
        return (int(self._starts[-1]), *tail)

    @property
    def dtype(self) -> np.dtype:
        """Stored dtype."""
        return self.chunks[0].dtype if self.chunks else np.dtype(np.float32)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, key: Any) -> np.ndarray:
        n = len(self)
        if isinstance(key, int | np.integer):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"index {key} out of range for {n} items")
            c = int(np.searchsorted(self._starts, i, side="right") - 1)
            return np.array(self.chunks[c][i - self._starts[c]])
        if isinstance(key, slice):
            return self[np.arange(n)[key]]
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for {n} items")
        idx = np.where(idx < 0, idx + n, idx)
        out = np.empty((len(idx), *self.shape[1:]), self.dtype)
        which = np.searchsorted(self._starts, idx, side="right") - 1
        for c in np.unique(which):
            sel = np.flatnonzero(which == c)
            local = idx[sel] - self._starts[c]
            order = np.argsort(local, kind="stable")
            out[sel[order]] = self.chunks[c][local[order]]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = np.concatenate(self.chunks) if self.chunks else np.empty(self.shape, self.dtype)
        return arr.astype(dtype) if dtype is not None else arr


class Dataset:
    """An opened dataset: memory-mapped features, labels and the index.

    Attributes
    ----------
    x : ChunkedArray
        Features ``(N, *item_shape)`` in the stored dtype (float16 or float32).
    y : ndarray
        ``(N,)`` float32 δC9 labels.
    index : dict
        The parsed ``index.json``.
    path : Path
        The dataset folder.
    """

    def __init__(self, path: Path, index: dict[str, Any], x: ChunkedArray, y: np.ndarray) -> None:
        self.path = path
        self.index = index
        self.x = x
        self.y = y

    @property
    def kind(self) -> str:
        """``images`` or ``sets``."""
        return str(self.index["kind"])

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one item."""
        return tuple(self.index["item_shape"])

    @property
    def labels(self) -> np.ndarray:
        """Sorted distinct labels, float32."""
        return np.unique(self.y)

    @property
    def spec(self) -> Any:
        """The :class:`~hepc9.datasets.voxelize.ImageSpec` of an image dataset, else None."""
        if "spec" not in self.index:
            return None
        return ImageSpec.from_dict(self.index["spec"])

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, indices: Any, *, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` for the given item indices, features cast to ``dtype``.

        Parameters
        ----------
        indices : int array, slice
            Items to read.
        dtype : numpy dtype
            Feature dtype of the batch (float32 by default).

        Returns
        -------
        x : ndarray
            ``(B, *item_shape)``.
        y : ndarray
            ``(B,)`` float32.
        """
        if isinstance(indices, slice):
            indices = np.arange(len(self))[indices]
        idx = np.asarray(indices, dtype=np.int64)
        return self.x[idx].astype(dtype, copy=False), self.y[idx]

    def __repr__(self) -> str:
        return (
            f"Dataset({str(self.path)!r}, kind={self.kind!r}, n={len(self)}, "
            f"item_shape={self.item_shape}, dtype={self.x.dtype}, labels={len(self.labels)})"
        )


def open_dataset(directory: str | Path, *, verify: bool = False) -> Dataset:
    """Open a complete dataset folder with memory-mapped chunks.

    Parameters
    ----------
    directory : str or Path
        Folder holding ``index.json`` and the chunk files.
    verify : bool
        Also check every chunk's sha256 digest against the index.

    Returns
    -------
    Dataset
    """
    folder = Path(directory)
    index = read_index(folder)
    xs, ys = [], []
    item_shape = tuple(index["item_shape"])
    for entry in index["chunks"]:
        xp, yp = folder / entry["x"], folder / entry["y"]
        try:
            x = np.load(xp, mmap_mode="r", allow_pickle=False)
            y = np.load(yp, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError as err:
            raise DataError(
                f"{folder}: chunk file {Path(err.filename).name} listed in index.json is missing"
            ) from err
        except (OSError, ValueError) as err:
            raise DataError(f"{folder}: cannot read chunk {entry['x']}: {err}") from err
        if x.shape != (entry["count"], *item_shape) or y.shape != (entry["count"],):
            raise SchemaError(
                f"{xp}: shape {x.shape} does not match index.json ({entry['count']}, "
                f"{', '.join(map(str, item_shape))})"
            )
        if x.dtype != np.dtype(index["dtype"]):
            raise SchemaError(f"{xp}: dtype {x.dtype} but index.json says {index['dtype']}")
        if verify and (
            _digest(xp) != entry.get("x_digest") or _digest(yp) != entry.get("y_digest")
        ):
            raise DataError(f"{xp}: digest differs from index.json (file changed or corrupt)")
        xs.append(x)
        ys.append(np.asarray(y, dtype=np.float32))
    y_all = np.concatenate(ys) if ys else np.zeros(0, np.float32)
    return Dataset(folder, index, ChunkedArray(xs), y_all)
