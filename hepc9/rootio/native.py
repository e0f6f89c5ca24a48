"""Native hepc9 event files: one ROOT TTree ``events`` plus JSON metadata (formats.md §1).

Layout
------
* Tree ``events``, one entry per decay (generator level) or per selected candidate
  (detector level).  Columns are float32 on disk (int8 for ``flavour`` and ``is_signal``,
  see :data:`NATIVE_DTYPES`); readers upcast floats to float64.
* String object ``hepc9_meta`` (a ``TObjString``) holding JSON with at least the keys of
  :data:`REQUIRED_META_KEYS`; ``format`` and ``format_version`` let readers refuse files they do
  not understand, and ``n_events`` must equal the number of entries.

Writing is chunked (``mktree`` + ``extend``) with an explicit compression (ZSTD level 1 by
default; uproot's default ZLIB is about ten times slower for the same size) and atomic: the
file is written under a temporary name in the target folder and renamed when complete.

The schema (names, dtypes, compression) lives in :mod:`hepc9.rootio.native_schema`, the
metadata in :mod:`hepc9.rootio.native_meta`, the writer in :mod:`hepc9.rootio.native_write`;
this module holds the readers and re-exports the rest.

Example
-------
>>> meta = make_meta(level="gen", shifts={"dc9": -0.82}, seed=1, n_events=0,
...                  config_digest="sha256:0")                      # doctest: +SKIP
>>> write_events("sm.root", events, meta)                            # doctest: +SKIP
>>> events, meta = read_events("sm.root")                            # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.errors import ConfigError
from hepc9.rootio._common import get_tree, open_root, require_branches
from hepc9.rootio._foreign import check_numeric
from hepc9.rootio.native_meta import _check_entries, _meta_from_file, make_meta, read_meta
from hepc9.rootio.native_schema import (
    COMPRESSIONS,
    CORE_COLUMNS,
    EVENTS_TREE,
    FORMAT_NAME,
    FORMAT_VERSION,
    LEVELS,
    META_KEY,
    NATIVE_DTYPES,
    REQUIRED_META_KEYS,
)
from hepc9.rootio.native_write import write_events

__all__ = [
    "COMPRESSIONS",
    "CORE_COLUMNS",
    "EVENTS_TREE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LEVELS",
    "META_KEY",
    "NATIVE_DTYPES",
    "REQUIRED_META_KEYS",
    "file_summary",
    "iterate_events",
    "make_meta",
    "read_events",
    "read_meta",
    "write_events",
]


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------


def _upcast(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        key: (np.asarray(value, dtype=np.float64) if value.dtype.kind == "f" else value)
        for key, value in arrays.items()
    }


def _read_branch(branch: Any, *, entry_start: int | None, entry_stop: int | None) -> np.ndarray:
    """Read one branch, converting floats straight from the big-endian baskets to float64."""
    import uproot

    interpretation = branch.interpretation
    if isinstance(interpretation, uproot.AsDtype) and interpretation.to_dtype.kind == "f":
        interpretation = uproot.AsDtype(interpretation.from_dtype, np.dtype(np.float64))
    array = branch.array(
        interpretation,
        entry_start=entry_start,
        entry_stop=entry_stop,
        library="np",
        array_cache=None,
    )
    return _upcast({"x": np.asarray(array)})["x"]


def _columns(tree: Any, columns: Sequence[str] | None, path: str | os.PathLike[str]) -> list[str]:
    if columns is None:
        require_branches(tree, CORE_COLUMNS, path)
        names = list(tree.keys())
    else:
        names = require_branches(tree, [columns] if isinstance(columns, str) else columns, path)
    check_numeric(tree, names, str(path))  # a jagged or non-numeric branch: one clear line
    return names


def read_events(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a native event file into memory.

    Parameters
    ----------
    path : str or path-like
        Native event file.
    columns : sequence of str, optional
        Columns to read (default: all).
    entry_start, entry_stop : int, optional
        Entry range (Python slice semantics).

    Returns
    -------
    events : dict of str to ndarray, shape (n,)
        Floating columns as float64, integer columns (``flavour``, ``is_signal``) as stored.
    meta : dict
        The file's metadata.

    Raises
    ------
    DataError
        If the file is missing, truncated or damaged.
    SchemaError
        For invalid metadata or ``n_events`` different from the number of entries.
    MissingBranchError
        If the tree ``events`` or a requested column is missing (with close matches).
    """
    with open_root(path) as file:
        meta = _meta_from_file(file, path)
        tree = get_tree(file, EVENTS_TREE, path)
        _check_entries(meta, tree, path)
        names = _columns(tree, columns, path)
        events = {
            name: _read_branch(tree[name], entry_start=entry_start, entry_stop=entry_stop)
            for name in names
        }
        return events, meta


def iterate_events(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    step_size: int = 1_000_000,
) -> Iterator[dict[str, np.ndarray]]:
    """Read a native event file in chunks.

    Parameters
    ----------
    path : str or path-like
        Native event file.
    columns : sequence of str, optional
        Columns to read (default: all).
    step_size : int
        Entries per chunk.

    Yields
    ------
    dict of str to ndarray, shape (m,)
        Events of one chunk, upcast as in :func:`read_events`; nothing for an empty tree.

    Raises
    ------
    DataError, SchemaError, MissingBranchError
        As :func:`read_events` (raised on the first ``next``).
    """
    if int(step_size) < 1:
        raise ConfigError(f"step_size must be >= 1, got {step_size!r}")
    with open_root(path) as file:
        meta = _meta_from_file(file, path)
        tree = get_tree(file, EVENTS_TREE, path)
        _check_entries(meta, tree, path)
        names = _columns(tree, columns, path)
        for arrays in tree.iterate(names, step_size=int(step_size), library="np"):
            yield _upcast({name: arrays[name] for name in names})


def file_summary(path: str | os.PathLike[str], *, step_size: int = 1_000_000) -> dict[str, Any]:
    """Summarise a native event file (for ``hepc9 info``).

    Statistics are accumulated chunk by chunk, so files larger than memory work.

    Parameters
    ----------
    path : str or path-like
        Native event file.
    step_size : int
        Entries per chunk.

    Returns
    -------
    dict
        ``path``, ``size_bytes``, ``entries``, ``meta`` and ``branches``: for each branch its
        on-disk ``dtype`` and ``min``, ``max``, ``mean`` over finite values (``None`` when
        there are none) and ``n_nonfinite``.  JSON-serialisable.
    """
    with open_root(path) as file:
        meta = _meta_from_file(file, path)
        tree = get_tree(file, EVENTS_TREE, path)
        _check_entries(meta, tree, path)
        names = list(tree.keys())
        check_numeric(tree, names, str(path))
        dtypes = {
            name: str(tree[name].interpretation.from_dtype.newbyteorder("=")) for name in names
        }
        stats = {name: [math.inf, -math.inf, 0.0, 0, 0] for name in names}
        for arrays in tree.iterate(names, step_size=int(step_size), library="np"):
            for name in names:
                values = np.asarray(arrays[name], dtype=np.float64)
                finite = np.isfinite(values)
                acc = stats[name]
                acc[4] += int(values.size - np.count_nonzero(finite))
                good = values[finite]
                if good.size:
                    acc[0] = min(acc[0], float(good.min()))
                    acc[1] = max(acc[1], float(good.max()))
                    acc[2] += float(good.sum())
                    acc[3] += int(good.size)
        branches = {}
        for name in names:
            lo, hi, total, count, nonfinite = stats[name]
            branches[name] = {
                "dtype": dtypes[name],
                "min": lo if count else None,
                "max": hi if count else None,
                "mean": total / count if count else None,
                "n_nonfinite": nonfinite,
            }
        return {
            "path": str(path),
            "size_bytes": Path(path).stat().st_size,
            "entries": int(tree.num_entries),
            "meta": meta,
            "branches": branches,
        }
