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
chunk by chunk and to resume interrupted builds.  The reading side (:func:`read_index`,
:func:`open_dataset`, :class:`Dataset`, :class:`ChunkedArray`) and the format constants live in
:mod:`hepc9.datasets.reader` and are re-exported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9 import __version__
from hepc9.artifacts import atomic_path
from hepc9.datasets.reader import (
    DTYPES,
    FORMAT,
    FORMAT_VERSION,
    ChunkedArray,
    Dataset,
    _digest,
    open_dataset,
    read_index,
)
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

_CHUNK_RE = re.compile(r"^[xy]-\d{6}\.npy$")


def chunk_files(number: int) -> tuple[str, str]:
    """Return the file names ``(x-NNNNNN.npy, y-NNNNNN.npy)`` of chunk ``number``."""
    return f"x-{number:06d}.npy", f"y-{number:06d}.npy"


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


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
