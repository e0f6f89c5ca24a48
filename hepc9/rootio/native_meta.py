"""JSON metadata of native event files: building (:func:`make_meta`), checking and reading it."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9 import __version__
from hepc9.errors import ConfigError, SchemaError, did_you_mean
from hepc9.physics.constants import SHIFT_NAMES
from hepc9.rootio._common import open_root
from hepc9.rootio.native_schema import (
    EVENTS_TREE,
    FORMAT_NAME,
    FORMAT_VERSION,
    LEVELS,
    META_KEY,
    REQUIRED_META_KEYS,
)

__all__ = ["make_meta", "read_meta"]


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
        Further JSON-serialisable keys (``spawn_key``, ``source``, ``density`` — the generator
        density of :mod:`hepc9.generate.density`, absent meaning the rate — ...), kept as given.

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
    for name in SHIFT_NAMES:
        value = meta[name]
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value)):
            raise SchemaError(
                f"metadata of {path}: {name} = {value!r} is not a finite number; the file's "
                "Wilson-coefficient point is damaged: regenerate the file"
            )
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
