"""Type checks of TOML values against the section annotations, and building the sections.

:func:`build` turns parsed TOML data into the frozen section dataclasses: unknown sections or
keys fail naming the place and the closest valid key; :func:`coerce` checks one value against
its annotation (bool, int, float, str, Literal, optional, tuple, list, dict) and converts
arrays to tuples.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from hepc9.errors import ConfigError, did_you_mean

__all__ = ["build", "coerce"]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists → tuples).

    Parameters
    ----------
    value : object
        The parsed TOML value.
    tp : type annotation
        The field's resolved annotation.
    where : str
        Place named in error messages, e.g. ``"[generate] events in run.toml"``.

    Returns
    -------
    object
        The value, with arrays as tuples and integers as floats where a float is expected.

    Raises
    ------
    ConfigError
        When the value does not have the annotated type.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} = {value!r} has the wrong type; expected {_type_name(tp)}")
    if origin is Literal:
        if value not in args:
            hint = did_you_mean(value, args)
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where} = {value!r} is not one of {allowed}{hint}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} = {value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} = {value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} = {value!r} must be a number")
        if not math.isfinite(value):
            raise ConfigError(f"{where} = {value!r} must be finite")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} = {value!r} must be a string")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} = {value!r} must be an array")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} = {value!r} must have {len(args)} elements")
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in pairs)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} = {value!r} must be an array")
        return [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} = {value!r} must be a table")
        return {str(k): coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    raise ConfigError(f"{where}: unsupported configuration type {tp!r}")  # pragma: no cover


def build(cls: type, data: Mapping[str, Any], section: str | None, origin: str) -> Any:
    """Build the dataclass ``cls`` from parsed data, checking every key and value.

    Parameters
    ----------
    cls : type
        A section dataclass, or :class:`~hepc9.config.Config` for the top level.
    data : mapping
        Parsed TOML data of that table.
    section : str or None
        Name of the table (``None`` at the top level), for error messages.
    origin : str
        File or source name, for error messages.

    Returns
    -------
    object
        An instance of ``cls``; sub-tables become nested sections.

    Raises
    ------
    ConfigError
        On unknown keys (with the closest valid key) and values of the wrong type.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    place = f"[{section}] of {origin}" if section else f"the top level of {origin}"
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            hint = did_you_mean(key, names)
            what = "key" if section else "key or section"
            raise ConfigError(f"unknown {what} '{key}' in {place}{hint}")
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{key}' in {place} must be a table [{key}], got {value!r}")
            kwargs[key] = build(tp, value, key, origin)
        else:
            label = f"[{section}] {key}" if section else key
            kwargs[key] = coerce(value, tp, f"{label} in {origin}")
    return cls(**kwargs)
