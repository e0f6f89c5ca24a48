"""Chunked, atomic writer of native event files (:func:`write_events`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.artifacts import atomic_path
from hepc9.errors import ConfigError, DataError, SchemaError, ShapeError
from hepc9.rootio.native_meta import _check_meta
from hepc9.rootio.native_schema import (
    _ANGLE_COLUMNS,
    _TWO_PI,
    CORE_COLUMNS,
    EVENTS_TREE,
    META_KEY,
    NATIVE_DTYPES,
    _compression,
)

__all__ = ["write_events"]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------


def _disk_dtype(name: str, array: np.ndarray, overrides: Mapping[str, Any]) -> np.dtype:
    if name in overrides:
        return np.dtype(overrides[name])
    if name in NATIVE_DTYPES:
        return NATIVE_DTYPES[name]
    if array.dtype.kind == "f":
        return np.dtype(np.float32)
    if array.dtype.kind == "b":
        return np.dtype(np.int8)
    if array.dtype.kind in "iu":
        return array.dtype
    raise SchemaError(
        f"column '{name}' has dtype {array.dtype}; native files hold numeric columns only"
    )


def _check_convertible(name: str, array: np.ndarray, dtype: np.dtype) -> None:
    """Raise if ``array`` cannot be stored losslessly in the integer ``dtype``."""
    if dtype.kind not in "iu":
        return
    if array.dtype.kind not in "iub":
        if array.dtype.kind != "f":
            raise SchemaError(f"column '{name}' of dtype {array.dtype} cannot be stored as {dtype}")
        bad = ~np.isfinite(array) | (array != np.round(array))
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"column '{name}' must hold integers (stored as {dtype}); entry {i} is {array[i]!r}"
            )
    if array.size:
        info = np.iinfo(dtype)
        lo, hi = array.min(), array.max()
        if lo < info.min or hi > info.max:
            raise DataError(
                f"column '{name}' has values in [{lo}, {hi}], outside the range of {dtype}"
            )


def _to_disk(name: str, array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert one slice to the big-endian on-disk dtype (uproot then writes it without copy)."""
    out = np.asarray(array, dtype=dtype.newbyteorder(">"))
    if name in _ANGLE_COLUMNS and dtype.kind == "f":
        # χ just below 2π can round up to 2π in float32; formats.md §1 maps it to 0.
        # Only that rounding: a χ beyond 2π is an impossible value, kept for the readers'
        # validation to refuse (never silently turned into 0).
        two_pi = dtype.type(_TWO_PI)
        wrapped = (out >= two_pi) & (out <= np.nextafter(two_pi, dtype.type(np.inf)))
        if np.any(wrapped):
            if np.shares_memory(out, array):
                out = out.copy()
            out[wrapped] = 0.0
    return out


def _chunks(events: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> Iterator[Mapping]:
    if isinstance(events, Mapping):
        yield events
    else:
        yield from events


def write_events(
    path: str | os.PathLike[str],
    events: Mapping[str, np.ndarray] | Iterable[Mapping[str, np.ndarray]],
    meta: Mapping[str, Any],
    *,
    overwrite: bool = False,
    compression: Any = "zstd",
    chunk_size: int = 1_000_000,
    dtypes: Mapping[str, Any] | None = None,
) -> Path:
    """Write events to a native ROOT file, atomically.

    Parameters
    ----------
    path : str or path-like
        Output file (missing folders are created).
    events : mapping or iterable of mappings
        One events dict (column name → 1-D array of length n) or an iterable of such chunks
        with identical column names.  Must contain the columns of :data:`CORE_COLUMNS`.
    meta : mapping
        Metadata from :func:`make_meta`; ``n_events`` is set to the rows written.
    overwrite : bool
        Replace an existing file.
    compression : str or uproot compression
        ``"zstd"`` (ZSTD level 1, default), ``"lz4"``, ``"zlib"``, ``"lzma"``, ``"none"``;
        ``"name:level"`` picks another level.
    chunk_size : int
        Largest number of rows per ``extend`` call (one basket per branch each).
    dtypes : mapping, optional
        On-disk dtypes overriding :data:`NATIVE_DTYPES` (e.g. float64 for a column that
        needs more than 7 digits).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is false.
    SchemaError
        For missing core columns, chunks with different columns, or non-numeric columns.
    ShapeError
        For columns that are not 1-D or of different lengths within a chunk.
    DataError
        For integer columns holding non-integers, or an unwritable folder.
    """
    import uproot

    try:
        meta_checked = _check_meta(dict(meta), "the metadata given to write_events")
    except SchemaError as err:
        raise ConfigError(f"{err}; build the metadata with make_meta") from err
    codec = _compression(compression)
    if int(chunk_size) < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size!r}")
    overrides = dict(dtypes or {})
    target = Path(path)
    with atomic_path(target, overwrite=overwrite, parents=True, keep_suffix=True) as tmp:
        n_written = 0
        schema: dict[str, np.dtype] | None = None
        with uproot.recreate(tmp, compression=codec) as file:
            for chunk in _chunks(events):
                arrays = {str(k): np.asarray(v) for k, v in chunk.items()}
                if schema is None:
                    missing = [c for c in CORE_COLUMNS if c not in arrays]
                    if missing:
                        raise SchemaError(
                            f"events lack the native columns {', '.join(missing)} "
                            f"(required: {', '.join(CORE_COLUMNS)})"
                        )
                    schema = {k: _disk_dtype(k, v, overrides) for k, v in arrays.items()}
                    file.mktree(EVENTS_TREE, {k: dt.type for k, dt in schema.items()})
                elif set(arrays) != set(schema):
                    extra = sorted(set(arrays) - set(schema))
                    lost = sorted(set(schema) - set(arrays))
                    raise SchemaError(
                        f"event chunk columns differ from the first chunk: extra {extra}, "
                        f"missing {lost}"
                    )
                lengths = {k: v.shape for k, v in arrays.items()}
                n = arrays["q2"].shape[0] if arrays["q2"].ndim == 1 else -1
                bad = {k: s for k, s in lengths.items() if s != (n,)}
                if bad:
                    raise ShapeError(
                        f"event columns must be 1-D arrays of equal length; got shapes {lengths}"
                    )
                for k in schema:
                    _check_convertible(k, arrays[k], schema[k])
                for start in range(0, n, int(chunk_size)):
                    stop = min(n, start + int(chunk_size))
                    file[EVENTS_TREE].extend(
                        {k: _to_disk(k, arrays[k][start:stop], schema[k]) for k in schema}
                    )
                n_written += n
            if schema is None:
                raise DataError("no event chunks were given to write_events; nothing to write")
            meta_out = {**meta_checked, "n_events": n_written}
            file[META_KEY] = json.dumps(meta_out, sort_keys=True, allow_nan=False)
    log.debug("wrote %s events to %s", n_written, target)
    return target
