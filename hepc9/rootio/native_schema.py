"""Schema of native event files: tree and metadata names, columns, on-disk dtypes, compression.

The layout is described in :mod:`hepc9.rootio.native` and formats.md §1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, did_you_mean
from hepc9.physics.constants import SHIFT_NAMES

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
]

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
