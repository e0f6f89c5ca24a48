"""Plain JSON-compatible form of a configuration and its sha256 digest.

The plain form (nested dicts, lists, numbers, strings, ``None``) is what ``hepc9 config show``
prints, what run manifests store and what :func:`hepc9.config.load_config` reads back with
``data=``; the digest identifies a configuration in artefact metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["config_digest", "to_plain"]


def to_plain(obj: Any) -> Any:
    """Return ``obj`` as plain data: dataclasses and mappings → dicts, tuples → lists.

    Parameters
    ----------
    obj : object
        A configuration, one of its sections, or data containing them.

    Returns
    -------
    object
        JSON-compatible data (dict keys converted with ``str``).
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    return obj


def config_digest(cfg: Any) -> str:
    """Return ``sha256:<hex>`` of the canonical JSON form of a configuration.

    Parameters
    ----------
    cfg : Config or mapping
        Configuration to digest; a :class:`~hepc9.config.Config` and its ``to_dict()`` give
        the same digest.

    Returns
    -------
    str
    """
    text = json.dumps(to_plain(cfg), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
