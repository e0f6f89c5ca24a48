"""Saving and loading trained models: ``model.keras`` plus ``model.json``.

A trained model is a folder holding ``model.keras`` (the Keras v3 format, no pickle) and
``model.json`` (builder and arguments, input shape, label map, normalisation, dataset index
information, configuration digest, versions, backend); it loads back on any Keras backend.
Both files are written through :func:`hepc9.artifacts.atomic_path`, ``model.json`` last.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepc9 import __version__
from hepc9.artifacts import atomic_path, write_text
from hepc9.errors import DataError, OutputExistsError, SchemaError
from hepc9.models import _backend
from hepc9.models.registry import ESTIMATORS

__all__ = [
    "META_FILE",
    "MODEL_FILE",
    "MODEL_FORMAT",
    "copy_model",
    "load_model",
    "read_model_info",
    "save_model",
]

#: File names inside a saved-model folder.
MODEL_FILE = "model.keras"
META_FILE = "model.json"
#: ``format`` entry of ``model.json`` and its version.
MODEL_FORMAT = "hepc9-model"
_MODEL_FORMAT_VERSION = 1


def _custom_objects() -> None:
    """Import every registered builder and layer module (their serialisable layers register)."""
    for spec in ESTIMATORS.values():
        if isinstance(spec.builder, str):
            importlib.import_module(spec.builder.split(":")[0])
        for module in spec.layers:
            importlib.import_module(module)


def _versions() -> dict[str, str]:
    import keras

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
    with atomic_path(out / MODEL_FILE, overwrite=True) as tmp, \
            tempfile.TemporaryDirectory(dir=out, prefix=".model-") as staging:
        # Keras insists on a '.keras' name: save in a scratch folder, then hand the file to
        # the atomic writer, which renames it into place
        scratch = Path(staging) / MODEL_FILE
        model.save(scratch, overwrite=True)
        scratch.replace(tmp)
    write_text(out / META_FILE, text + "\n", overwrite=True)
    return out


def copy_model(source: str | os.PathLike[str], directory: str | os.PathLike[str]) -> Path:
    """Copy a saved model into ``directory`` (created), ``model.json`` last.

    Parameters
    ----------
    source : path
        Saved-model folder (checked with :func:`read_model_info`).
    directory : path
        Destination folder; a model there is replaced.

    Returns
    -------
    Path
        The destination folder.
    """
    src, out = Path(source), Path(directory)
    read_model_info(src)
    out.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, META_FILE):  # a folder with model.json is complete
        with atomic_path(out / name, overwrite=True) as tmp:
            shutil.copyfile(src / name, tmp)
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
    except UnicodeDecodeError as err:
        raise SchemaError(f"{path} is not UTF-8 JSON text ({err.reason} at byte "
                          f"{err.start}); save the model again") from None
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise SchemaError(f"{path} is not a hepc9 model description (format != '{MODEL_FORMAT}')")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError(f"{path}: format_version must be an integer, not {version!r}; save "
                          "the model again")
    for key, kind in (("model", str), ("labels", dict)):
        if not isinstance(meta.get(key), kind):
            raise SchemaError(f"{path} lacks a valid '{key}' entry ({kind.__name__}); not a "
                              "complete hepc9 model description: save the model again")
    if version > _MODEL_FORMAT_VERSION:
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

    path = Path(directory) / MODEL_FILE
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
        # truncated, empty or foreign archives: Keras says "File not found" or worse
        raise SchemaError(
            f"{path} is not a readable Keras model ({type(err).__name__}); the file is "
            "truncated, empty or of another program: train the model again"
        ) from err
    return model, meta

