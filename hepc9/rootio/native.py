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

Example
-------
>>> meta = make_meta(level="gen", shifts={"dc9": -0.82}, seed=1, n_events=0,
...                  config_digest="sha256:0")                      # doctest: +SKIP
>>> write_events("sm.root", events, meta)                            # doctest: +SKIP
>>> events, meta = read_events("sm.root")                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, DataError, SchemaError, ShapeError, did_you_mean
from hepc9.physics.constants import SHIFT_NAMES
from hepc9.rootio._common import atomic_output, get_tree, open_root, require_branches

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

log = logging.getLogger(__name__)

#: Name of the event tree.
EVENTS_TREE = "events"
#: Name of the metadata string object.
META_KEY = "hepc9_meta"
#: Value of the ``format`` metadata key.
FORMAT_NAME = "hepc9-events"
#: Version of the layout written by this module; readers refuse newer versions.
FORMAT_VERSION = 1
#: Allowed values of the ``level`` metadata key.
LEVELS = ("gen", "det")
#: Columns every native file has.
CORE_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour")
#: Metadata keys every native file has.
REQUIRED_META_KEYS = (
    "format",
    "format_version",
    "hepc9_version",
    "generator",
    "level",
    *SHIFT_NAMES,
    "seed",
    "n_events",
    "config_digest",
)


def _native_dtypes() -> dict[str, np.dtype]:
    f4, i1 = np.dtype(np.float32), np.dtype(np.int8)
    kinematic = ["q2", "costheta_l", "costheta_k", "chi", "mkpi"]
    kinematic += [f"{p}_{c}" for p in ("k", "pi", "mup", "mum") for c in ("e", "px", "py", "pz")]
    out: dict[str, np.dtype] = dict.fromkeys(kinematic, f4)
    out["flavour"] = i1
    out.update({"mbc": f4, "delta_e": f4, "is_signal": i1, "weight": f4})
    # Truth copies of every kinematic column (NaN where no true decay exists); the truth
    # flavour is an integer, 0 where no true decay exists.
    out.update({f"{name}_true": f4 for name in (*kinematic, "mbc", "delta_e")})
    out["flavour_true"] = i1
    return out


#: On-disk dtype of every known native column (formats.md §1).  Other columns are accepted:
#: floats are written as float32, integers and booleans keep an integer type.
NATIVE_DTYPES: dict[str, np.dtype] = _native_dtypes()

_ANGLE_COLUMNS = frozenset({"chi", "chi_true"})
_TWO_PI = 2.0 * math.pi

#: Compression names accepted by :func:`write_events`, with their uproot objects' factories.
COMPRESSIONS = ("zstd", "lz4", "zlib", "lzma", "none")


def _compression(spec: Any) -> Any:
    import uproot

    if spec is None:
        return None
    if isinstance(spec, uproot.compression.Compression):
        return spec
    if not isinstance(spec, str):
        raise ConfigError(
            f"compression must be one of {', '.join(COMPRESSIONS)} (optionally 'name:level'), "
            f"got {spec!r}"
        )
    name, _, level_text = spec.lower().partition(":")
    try:
        level = int(level_text) if level_text else 1
    except ValueError:
        raise ConfigError(f"compression level in {spec!r} is not an integer") from None
    factories = {
        "zstd": uproot.ZSTD,
        "lz4": uproot.LZ4,
        "zlib": uproot.ZLIB,
        "lzma": uproot.LZMA,
    }
    if name == "none":
        return None
    if name not in factories:
        hint = did_you_mean(name, COMPRESSIONS)
        raise ConfigError(f"unknown compression {spec!r}{hint} (valid: {', '.join(COMPRESSIONS)})")
    try:
        return factories[name](level)
    except ValueError as err:
        raise ConfigError(f"invalid compression level in {spec!r}: {err}") from err


# ----------------------------------------------------------------------------------------
# Metadata
# ----------------------------------------------------------------------------------------


def _shift_values(shifts: Any) -> dict[str, float]:
    if hasattr(shifts, "to_dict") and not isinstance(shifts, Mapping):
        shifts = shifts.to_dict()
    if not isinstance(shifts, Mapping):
        raise ConfigError(f"shifts must be a mapping of Wilson shifts, got {type(shifts).__name__}")
    out = dict.fromkeys(SHIFT_NAMES, 0.0)
    for key, value in shifts.items():
        if key not in SHIFT_NAMES:
            hint = did_you_mean(key, SHIFT_NAMES)
            raise ConfigError(
                f"unknown Wilson shift '{key}'{hint} (valid: {', '.join(SHIFT_NAMES)})"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Wilson shift {key} = {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ConfigError(f"Wilson shift {key} = {value!r} is not finite")
        out[key] = number
    return out


def make_meta(
    *,
    level: str,
    shifts: Mapping[str, float] | Any,
    seed: int | None,
    n_events: int,
    config_digest: str | None,
    generator: str = "hepc9.generate.sampler",
    **extra: Any,
) -> dict[str, Any]:
    """Build the ``hepc9_meta`` dictionary of a native event file.

    Parameters
    ----------
    level : {"gen", "det"}
        Generator-level or detector-level file.
    shifts : mapping or WilsonShifts
        Wilson-coefficient point of the file; names from ``SHIFT_NAMES``, missing ones are 0.
    seed : int or None
        Master seed of the run (``None`` for ingested files without one).
    n_events : int
        Number of entries (replaced by the rows actually written in :func:`write_events`).
    config_digest : str or None
        Digest of the resolved configuration (``sha256:…``).
    generator : str
        Program that produced the events.
    **extra
        Further JSON-serialisable keys (``spawn_key``, ``source``, ...), kept as given.

    Returns
    -------
    dict
        Metadata with every key of :data:`REQUIRED_META_KEYS`, JSON-serialisable.

    Raises
    ------
    ConfigError
        For an unknown level or shift name, a non-finite shift, a negative ``n_events``, or
        extra keys that clash with required ones or are not JSON-serialisable.
    """
    from hepc9 import __version__

    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    if isinstance(n_events, bool) or not isinstance(n_events, int | np.integer) or n_events < 0:
        raise ConfigError(f"n_events must be a non-negative integer, got {n_events!r}")
    clash = sorted(set(extra) & set(REQUIRED_META_KEYS))
    if clash:
        raise ConfigError(f"extra metadata keys {clash} clash with required keys; rename them")
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "hepc9_version": __version__,
        "generator": str(generator),
        "level": level,
        **_shift_values(shifts),
        "seed": None if seed is None else int(seed),
        "n_events": int(n_events),
        "config_digest": None if config_digest is None else str(config_digest),
        **extra,
    }
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"metadata is not JSON-serialisable: {err}") from err
    return meta


def _check_meta(meta: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise SchemaError(f"'{META_KEY}' of {path} is not a JSON object")
    if meta.get("format") != FORMAT_NAME:
        raise SchemaError(
            f"{path} has format {meta.get('format')!r}, expected {FORMAT_NAME!r}; "
            "read foreign files with hepc9.rootio.load_events or convert them first"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaError(f"{path} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise SchemaError(
            f"{path} has format_version {version}, newer than the {FORMAT_VERSION} this hepc9 "
            "reads; upgrade hepc9"
        )
    if version < 1:
        raise SchemaError(f"{path} has an invalid format_version {version}")
    missing = [key for key in REQUIRED_META_KEYS if key not in meta]
    if missing:
        raise SchemaError(
            f"metadata of {path} lacks the required keys {', '.join(missing)}; the file was not "
            "written by hepc9.rootio.native"
        )
    if meta["level"] not in LEVELS:
        raise SchemaError(f"{path} has level {meta['level']!r}, expected one of {LEVELS}")
    return meta


def _meta_from_file(file: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    names = {key.split(";")[0] for key in file}
    if META_KEY not in names:
        raise SchemaError(
            f"{path} has no '{META_KEY}' metadata: it is not a native hepc9 event file; read "
            "foreign files with hepc9.rootio.load_events or convert them with 'hepc9 convert'"
        )
    text = file[META_KEY]
    try:
        meta = json.loads(str(text))
    except json.JSONDecodeError as err:
        raise SchemaError(f"'{META_KEY}' of {path} is not valid JSON: {err}") from err
    return _check_meta(meta, path)


def _check_entries(meta: Mapping[str, Any], tree: Any, path: str | os.PathLike[str]) -> None:
    if meta["n_events"] != tree.num_entries:
        raise SchemaError(
            f"{path}: metadata says n_events = {meta['n_events']} but tree '{EVENTS_TREE}' has "
            f"{tree.num_entries} entries; the file is inconsistent, regenerate it"
        )


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check the metadata of a native event file.

    Parameters
    ----------
    path : str or path-like
        Native event file.

    Returns
    -------
    dict
        The decoded ``hepc9_meta`` JSON.

    Raises
    ------
    DataError
        If the file is missing, truncated or damaged.
    SchemaError
        If the file is not a native file, has no or invalid metadata, a newer
        ``format_version``, or lacks required keys.
    """
    with open_root(path) as file:
        return _meta_from_file(file, path)


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
        wrapped = out >= dtype.type(_TWO_PI)
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
    with atomic_output(target, overwrite) as tmp:
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
        return list(tree.keys())
    if isinstance(columns, str):
        columns = [columns]
    return require_branches(tree, columns, path)


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
