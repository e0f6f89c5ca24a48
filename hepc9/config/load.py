"""Reading a configuration: TOML file or mapping, ``section.key=value`` overrides, validation.

:func:`load_config` is the one entry point: it reads the file (or takes already-parsed data),
applies the overrides in order, builds the frozen sections (:mod:`hepc9.config.coerce`) and
checks the values (:mod:`hepc9.config.validate`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hepc9.config.coerce import build
from hepc9.config.plain import to_plain
from hepc9.config.root import Config
from hepc9.config.validate import validate
from hepc9.errors import ConfigError

__all__ = ["Override", "load_config", "parse_override"]

#: A typed override: dotted key (``"generate.dc9"``, ``"seed"``) and its Python value.
Override = tuple[str, Any]


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one ``section.key=value`` override; the value is read as TOML.

    Parameters
    ----------
    text : str
        E.g. ``"datasets.bins=[25,25,25]"`` or ``"seed=7"``.

    Returns
    -------
    (list of str, object)
        The dotted path and the parsed value.
    """
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value")
    path, raw = text.split("=", 1)
    keys = [k.strip() for k in path.strip().split(".") if k.strip()]
    if not keys:
        raise ConfigError(f"override '{text}' has no key")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words are strings: --set model.name=deepsets
    return keys, value


def _merge(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set '{'.'.join(keys)}': '{key}' is not a section")
    node[keys[-1]] = value


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str | Override] = (),
    *,
    data: Mapping[str, Any] | None = None,
) -> Config:
    """Read, validate and resolve a configuration.

    Parameters
    ----------
    path : str or Path, optional
        TOML file.  ``None`` starts from the defaults.
    overrides : iterable of str or (str, object)
        Applied in order after the file: ``section.key=value`` strings (the value read as
        TOML, as ``--set`` gives them) or ``("section.key", value)`` pairs whose value is
        already a Python value (as command-line flags give them; no round trip through text).
        Both are checked exactly like the file's own values.
    data : mapping, optional
        Already-parsed configuration data (used instead of ``path``).

    Returns
    -------
    Config
        The frozen, validated configuration.

    Raises
    ------
    ConfigError
        On unreadable files, TOML syntax errors, unknown keys, wrong types, impossible values.
    """
    origin = str(path) if path is not None else "<defaults>"
    raw: dict[str, Any] = {}
    if data is not None:
        raw = json.loads(json.dumps(to_plain(data)))
        origin = "<mapping>"
    elif path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration file {p} does not exist") from None
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"configuration file {p} is not UTF-8 text ({err.reason} at byte {err.start}); "
                "save it as UTF-8"
            ) from None
        except OSError as err:
            raise ConfigError(f"cannot read configuration file {p}: {err.strerror}") from err
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{p} is not valid TOML: {err}") from err
    overrides = list(overrides)
    if overrides:  # a bad value may come from a flag or --set, not from the file
        origin = f"{origin} with the command-line values"
    for item in overrides:
        if isinstance(item, str):
            keys, value = parse_override(item)
        else:
            dotted, value = item
            keys = [k.strip() for k in dotted.split(".") if k.strip()]
            if not keys:
                raise ConfigError(f"override {item!r} has no key")
        _merge(raw, keys, value)
    cfg: Config = build(Config, raw, None, origin)
    validate(cfg, origin)
    return cfg
