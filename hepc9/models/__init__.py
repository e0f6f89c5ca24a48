"""Neural-network estimators of δC9: a registry of pure Keras builders, save and load.

Builders are functions ``build(input_shape, cfg, **extra) -> keras.Model`` returning an
uncompiled model; :data:`REGISTRY` maps their names to ``"module:function"`` strings that are
imported only on lookup, so ``import hepc9.models`` loads no Keras.

* ``resnet3d``: the 3D ResNet of papers/002 (depth 10/18/34, width multiplier), images
  ``(X, Y, Z, C)`` → δC9;
* ``deepsets``: Deep Sets, φ per event, mean pooling, ρ → δC9, event sets ``(n, F)``;
* ``event``: a per-event classifier over the δC9 label grid, events ``(F,)``, combined over a
  set into a posterior (:mod:`hepc9.models.event_classifier`).

A trained model is a folder holding ``model.keras`` (the Keras v3 format, no pickle) and
``model.json`` (builder and arguments, input shape, label map, normalisation, dataset index
information, configuration digest, versions, backend); it loads back on any Keras backend.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hepc9.errors import ConfigError, DataError, OutputExistsError, SchemaError, did_you_mean
from hepc9.models import _backend

__all__ = [
    "META_FILE",
    "MODEL_FILE",
    "MODEL_FORMAT",
    "REGISTRY",
    "build_model",
    "get_builder",
    "load_model",
    "read_model_info",
    "save_model",
]

#: Builder name → ``"module:function"``; resolved on lookup.
REGISTRY: dict[str, str] = {
    "resnet3d": "hepc9.models.resnet3d:build",
    "deepsets": "hepc9.models.deepsets:build",
    "event": "hepc9.models.event_classifier:build",
}

#: File names inside a saved-model folder.
MODEL_FILE = "model.keras"
META_FILE = "model.json"
#: ``format`` entry of ``model.json`` and its version.
MODEL_FORMAT = "hepc9-model"
_MODEL_FORMAT_VERSION = 1


def get_builder(name: str, *, backend: str | None = None) -> Callable[..., Any]:
    """Return the builder function registered as ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    backend : str, optional
        Keras backend to select before the builder's module imports Keras (see
        :func:`hepc9.models._backend.select`).

    Returns
    -------
    callable
        ``build(input_shape, cfg, **extra) -> keras.Model``.

    Raises
    ------
    ConfigError
        For an unknown name (with the closest registered name).
    """
    try:
        target = REGISTRY[name]
    except KeyError:
        hint = did_you_mean(name, REGISTRY)
        raise ConfigError(
            f"unknown model '{name}'; registered models are {', '.join(REGISTRY)}{hint}"
        ) from None
    _backend.select(backend)
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def build_model(name: str, input_shape: tuple[int, ...], cfg: Any, **extra: Any) -> Any:
    """Build the uncompiled model ``name`` for items of shape ``input_shape``.

    Parameters
    ----------
    name : str
        Registry name.
    input_shape : tuple of int
        Shape of one item (no batch axis).
    cfg : hepc9.config.ModelConfig
        Architecture settings.
    **extra
        Builder-specific arguments (``n_classes`` for ``event``).

    Returns
    -------
    keras.Model
    """
    return get_builder(name)(tuple(int(n) for n in input_shape), cfg, **extra)


def _custom_objects() -> None:
    """Import every registered module so that their serialisable layers are registered."""
    for target in REGISTRY.values():
        importlib.import_module(target.split(":")[0])


def _versions() -> dict[str, str]:
    import keras
    import numpy as np

    from hepc9 import __version__

    return {
        "hepc9": __version__,
        "keras": str(keras.__version__),
        "numpy": np.__version__,
        "backend": str(keras.backend.backend()),
    }


def save_model(
    model: Any, directory: str | os.PathLike[str], info: Mapping[str, Any], *,
    overwrite: bool = False,
) -> Path:
    """Write ``model.keras`` and ``model.json`` into ``directory`` (created if needed).

    Both files are written to temporary names first and renamed, ``model.json`` last, so a
    folder with a ``model.json`` always holds a complete model.

    Parameters
    ----------
    model : keras.Model
        The trained model.
    directory : path
        Output folder.
    info : mapping
        JSON-serialisable metadata (builder, arguments, input shape, labels, normalisation,
        dataset, configuration digest); versions and backend are added.
    overwrite : bool
        Replace an existing saved model.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    OutputExistsError
        If the folder already holds a model and ``overwrite`` is false.
    """
    out = Path(directory)
    if (out / META_FILE).exists() and not overwrite:
        raise OutputExistsError(
            f"{out} already holds a saved model; choose another folder or allow overwriting"
        )
    out.mkdir(parents=True, exist_ok=True)
    meta = {"format": MODEL_FORMAT, "format_version": _MODEL_FORMAT_VERSION, **dict(info)}
    meta["versions"] = _versions()
    meta["backend"] = meta["versions"]["backend"]
    text = json.dumps(meta, indent=2, sort_keys=True)
    fd, tmp_model = tempfile.mkstemp(dir=out, prefix=".model-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp_model, overwrite=True)
        os.replace(tmp_model, out / MODEL_FILE)
    finally:
        if os.path.exists(tmp_model):
            os.remove(tmp_model)
    fd, tmp_meta = tempfile.mkstemp(dir=out, prefix=".model-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    os.replace(tmp_meta, out / META_FILE)
    return out


def read_model_info(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``model.json`` of a saved model without loading Keras.

    Parameters
    ----------
    directory : path
        Saved-model folder.

    Returns
    -------
    dict
        The metadata.

    Raises
    ------
    DataError
        If the folder or its files are missing.
    SchemaError
        If ``model.json`` is not a hepc9 model description.
    """
    folder = Path(directory)
    path = folder / META_FILE
    if not folder.is_dir():
        raise DataError(f"model folder {folder} does not exist")
    if not path.is_file():
        raise DataError(
            f"{folder} holds no {META_FILE}: not a saved hepc9 model (or an interrupted save)"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise SchemaError(f"{path} is not a hepc9 model description (format != '{MODEL_FORMAT}')")
    if int(meta.get("format_version", 0)) > _MODEL_FORMAT_VERSION:
        raise SchemaError(
            f"{path} has format_version {meta['format_version']}; this hepc9 reads up to "
            f"{_MODEL_FORMAT_VERSION}: upgrade hepc9"
        )
    if not (folder / MODEL_FILE).is_file():
        raise DataError(f"{folder} has {META_FILE} but no {MODEL_FILE}")
    return meta


def load_model(
    directory: str | os.PathLike[str], *, backend: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """Load a saved model and its metadata, on any Keras backend.

    Parameters
    ----------
    directory : path
        Saved-model folder written by :func:`save_model`.
    backend : str, optional
        Backend to select if Keras is not loaded yet.

    Returns
    -------
    (keras.Model, dict)
        The model (with its training configuration, if saved compiled) and ``model.json``.
    """
    meta = read_model_info(directory)
    _backend.select(backend)
    _custom_objects()
    import keras

    model = keras.saving.load_model(Path(directory) / MODEL_FILE, compile=False, safe_mode=True)
    return model, meta

