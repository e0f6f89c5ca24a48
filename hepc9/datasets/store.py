"""The on-disk dataset store: chunked ``.npy`` arrays plus ``index.json`` (formats.md §5).

A dataset is one folder::

    index.json          written last: a folder without it is incomplete
    x-000000.npy        features of chunk 0: images (k, X, Y, Z, C) or sets (k, n, F)
    y-000000.npy        labels of chunk 0: (k,) float32 δC9 values
    x-000001.npy ...

Chunks are written with ``np.save`` to a temporary name and renamed, so a file that exists
is complete; they open with ``np.load(mmap_mode="r")``.  Features are float16 (half the disk
and memory; relative rounding error at most 2⁻¹¹, absolute at most 2⁻¹² = 2.4×10⁻⁴ on
[0, 1]; integers up to 2048 exact) or float32, and are cast to float32 per batch by
:meth:`Dataset.batch`.

:func:`write_dataset` writes whole arrays in one call; :mod:`hepc9.datasets.build` uses
:func:`write_chunk`, :func:`check_chunk` and :func:`write_index` to build large datasets
chunk by chunk and to resume interrupted builds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9 import __version__
from hepc9.artifacts import atomic_path, file_digest
from hepc9.datasets.image_spec import ImageSpec
from hepc9.errors import DataError, Hepc9Error, OutputExistsError, SchemaError, ShapeError

__all__ = [
    "DTYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "ChunkedArray",
    "Dataset",
    "check_chunk",
    "chunk_files",
    "open_dataset",
    "read_index",
    "remove_dataset_files",
    "write_chunk",
    "write_dataset",
    "write_index",
]

FORMAT = "hepc9-dataset"
FORMAT_VERSION = 1
#: Allowed feature dtypes on disk.
DTYPES = ("float16", "float32")
_CHUNK_RE = re.compile(r"^[xy]-\d{6}\.npy$")


def chunk_files(number: int) -> tuple[str, str]:
    """Return the file names ``(x-NNNNNN.npy, y-NNNNNN.npy)`` of chunk ``number``."""
    return f"x-{number:06d}.npy", f"y-{number:06d}.npy"


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _digest(path: Path) -> str:
    return file_digest(path)


def write_chunk(
    directory: str | Path,
    number: int,
    x: np.ndarray,
    y: np.ndarray,
    *,
    dtype: str = "float16",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one chunk atomically and return its index entry.

    Parameters
    ----------
    directory : str or Path
        Dataset folder (must exist).
    number : int
        Chunk number (file names ``x-NNNNNN.npy``, ``y-NNNNNN.npy``).
    x : ndarray
        ``(k, ...)`` features, cast to ``dtype``.
    y : ndarray
        ``(k,)`` labels, stored as float32.
    dtype : str
        ``float16`` or ``float32``.
    extra : mapping, optional
        Further entry fields (spawn key, sources, ...).

    Returns
    -------
    dict
        ``{"x", "y", "count", "labels", "x_digest", "y_digest", ...extra}``.
    """
    if dtype not in DTYPES:
        raise SchemaError(f"dataset dtype '{dtype}' is not one of {', '.join(DTYPES)}")
    folder = Path(directory)
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if x.shape[:1] != y.shape:
        raise ShapeError(f"chunk {number}: {x.shape[0]} feature items but {len(y)} labels")
    with np.errstate(over="ignore"):
        xs = x.astype(dtype, copy=False)
    if not np.all(np.isfinite(xs)):
        raise DataError(
            f"chunk {number}: features are not finite after conversion to {dtype} "
            "(values beyond the float16 range? use dtype = 'float32')"
        )
    xname, yname = chunk_files(number)
    _save_npy(folder / xname, xs)
    _save_npy(folder / yname, y)
    entry: dict[str, Any] = {
        "number": int(number),
        "x": xname,
        "y": yname,
        "count": len(y),
        "labels": sorted({float(v) for v in y.tolist()}),
        "x_digest": _digest(folder / xname),
        "y_digest": _digest(folder / yname),
    }
    if extra:
        entry.update(extra)
    return entry


def check_chunk(
    directory: str | Path,
    number: int,
    *,
    count: int,
    item_shape: Sequence[int],
    dtype: str,
    labels: np.ndarray | None = None,
    digests: Mapping[str, str] | None = None,
) -> bool:
    """Return whether chunk ``number`` exists, is readable and matches what is expected.

    Checks the header (shape, dtype), the labels, that features are finite and, when
    ``digests`` (``x_digest``, ``y_digest``) are given, the file digests.

    Parameters
    ----------
    directory : str or Path
        Dataset folder.
    number : int
        Chunk number.
    count : int
        Expected number of items.
    item_shape : sequence of int
        Expected shape of one item.
    dtype : str
        Expected feature dtype.
    labels : ndarray, optional
        Expected ``(count,)`` labels.
    digests : mapping, optional
        Expected file digests.

    Returns
    -------
    bool
    """
    folder = Path(directory)
    xname, yname = chunk_files(number)
    try:
        x = np.load(folder / xname, mmap_mode="r", allow_pickle=False)
        y = np.load(folder / yname, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    if x.shape != (count, *tuple(item_shape)) or x.dtype != np.dtype(dtype):
        return False
    if y.shape != (count,) or y.dtype != np.float32:
        return False
    if labels is not None and not np.array_equal(y, np.asarray(labels, np.float32)):
        return False
    if digests:
        if _digest(folder / xname) != digests.get("x_digest"):
            return False
        if _digest(folder / yname) != digests.get("y_digest"):
            return False
    else:
        try:
            if not np.all(np.isfinite(x)):
                return False
        except (OSError, ValueError):
            return False
    return True


def write_index(directory: str | Path, index: Mapping[str, Any]) -> Path:
    """Write ``index.json`` atomically; call it after every chunk is on disk.

    Parameters
    ----------
    directory : str or Path
        Dataset folder.
    index : mapping
        Index content; ``format``, ``format_version`` and ``hepc9_version`` are added.

    Returns
    -------
    Path
        The index path.
    """
    folder = Path(directory)
    data: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION,
                            "hepc9_version": __version__}
    data.update(index)
    for entry in data.get("chunks", []):
        for key in ("x", "y"):
            if not (folder / entry[key]).is_file():
                raise Hepc9Error(f"cannot write {folder / 'index.json'}: {entry[key]} is missing")
    path = folder / "index.json"
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


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


def remove_dataset_files(directory: str | Path) -> int:
    """Delete the dataset files of a folder (index, chunks, temporaries); return the count.

    Only names this module writes are removed; other files are left alone.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.iterdir():
        name = p.name
        ours = (
            name == "index.json"
            or _CHUNK_RE.match(name)
            or (name.startswith((".x-", ".y-", ".index.json.")) and name.endswith(".tmp"))
        )
        if ours and p.is_file():
            p.unlink()
            n += 1
    return n


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


def write_dataset(
    directory: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: str,
    dtype: str = "float16",
    items_per_chunk: int = 256,
    index: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write whole feature and label arrays as a dataset folder.

    Parameters
    ----------
    directory : str or Path
        Output folder (created; must not hold a dataset unless ``overwrite``).
    x : ndarray
        ``(N, ...)`` features.
    y : ndarray
        ``(N,)`` labels (δC9 values).
    kind : str
        ``images`` or ``sets``.
    dtype : str
        ``float16`` or ``float32`` on disk.
    items_per_chunk : int
        Items per chunk file.
    index : mapping, optional
        Further index fields (axes, channels, spec, features, config digest, ...).
    overwrite : bool
        Replace an existing dataset in the folder.

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(directory)
    if kind not in ("images", "sets"):
        raise SchemaError(f"dataset kind '{kind}' must be 'images' or 'sets'")
    if items_per_chunk <= 0:
        raise ShapeError(f"items_per_chunk = {items_per_chunk} must be positive")
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or len(x) != len(y):
        raise ShapeError(f"x of shape {x.shape} and y of shape {y.shape} do not match")
    prepare_folder(folder, overwrite=overwrite)
    chunks = []
    for number, start in enumerate(range(0, len(x), items_per_chunk)):
        sl = slice(start, start + items_per_chunk)
        chunks.append(write_chunk(folder, number, x[sl], y[sl], dtype=dtype))
    data = dict(index or {})
    data.update(
        {"kind": kind, "dtype": dtype, "item_shape": list(x.shape[1:]), "n_items": len(x),
         "chunks": chunks}
    )
    write_index(folder, data)
    return folder


def prepare_folder(folder: Path, *, overwrite: bool) -> None:
    """Create ``folder``; refuse (or, with ``overwrite``, clear) an existing dataset in it."""
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"output {folder} exists and is not a folder")
    if folder.is_dir():
        has_data = (folder / "index.json").exists() or any(
            _CHUNK_RE.match(p.name) for p in folder.iterdir()
        )
        if has_data and not overwrite:
            raise OutputExistsError(
                f"output {folder} already holds a dataset; pass --overwrite to replace it"
            )
        if has_data:
            remove_dataset_files(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise Hepc9Error(f"cannot create output folder {folder}: {err.strerror}") from err


__all__ += ["prepare_folder"]
