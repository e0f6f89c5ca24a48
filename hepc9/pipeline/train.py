"""Training and prediction stages: dataset folders in, saved models and δC9 values out.

:func:`train_from_folder` opens a stored dataset (a dataset folder, or a folder with ``train/``
and ``validation/`` dataset folders), selects the Keras backend and calls
:func:`hepc9.train.train_model`.  :func:`predict_files` reads native or foreign ntuples, builds
the model inputs exactly as the training dataset was built (voxelised with the stored image
spec, or event sets of the stored features), splits the events into sets of the trained size
and returns δC9 per set with the spread.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.datasets.build import dataset_spec
from hepc9.datasets.sets import SetSpec, feature_matrix
from hepc9.datasets.store import open_dataset
from hepc9.datasets.stream import ImageStream
from hepc9.datasets.voxelize import ImageSpec, voxelize_batch
from hepc9.errors import ConfigError, DataError
from hepc9.models import _backend, get_spec, read_model_info
from hepc9.rootio import load_events
from hepc9.train import StreamSource, load_predictor, predict, train_model

__all__ = ["build_inputs", "open_training_data", "predict_files", "train_from_folder"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def open_training_data(path: PathLike) -> tuple[Any, Any | None]:
    """Open the training (and validation) datasets under ``path``.

    Parameters
    ----------
    path : path
        A dataset folder (``index.json``), or a folder holding a ``train`` dataset folder and
        optionally a ``validation`` one.

    Returns
    -------
    (Dataset, Dataset or None)
        Training and validation data; ``None`` means "split the training data".
    """
    folder = Path(path)
    if (folder / "index.json").is_file():
        return open_dataset(folder), None
    if (folder / "train" / "index.json").is_file():
        train = open_dataset(folder / "train")
        val = (open_dataset(folder / "validation")
               if (folder / "validation" / "index.json").is_file() else None)
        return train, val
    if not folder.exists():
        raise DataError(f"dataset folder {folder} does not exist")
    raise DataError(
        f"{folder} holds no dataset: expected index.json, or train/index.json (build one with "
        "'python -m hepc9 images')"
    )


def _stream_source(cfg: Any, train: Any) -> Any:
    """Return a :class:`hepc9.train.StreamSource` of fresh items built like ``train``."""
    if train is not None:
        index = dict(train.index)
        key = "spec" if train.kind == "images" else "standardisation"
        spec_data = index.get(key)
        if not spec_data:
            raise DataError(
                f"{train.path}: the index records no '{key}'; cannot stream items built like it"
            )
        if train.kind == "images":
            spec: Any = ImageSpec.from_dict(spec_data)
        else:
            spec = SetSpec.from_dict(spec_data)
        grid: list[float] | None = np.unique(np.asarray(train.y, dtype=np.float64)).tolist()
    else:
        index = None
        spec = dataset_spec(cfg)
        grid = None
    stream = ImageStream(cfg, spec, batch_size=cfg.train.batch_size,
                         batches_per_epoch=cfg.train.steps_per_epoch, grid=grid)
    return StreamSource.from_stream(stream, index=index)


def train_from_folder(
    cfg: Any,
    dataset: PathLike | None,
    output: PathLike,
    *,
    model_name: str | None = None,
    epochs: int | None = None,
    backend: str | None = None,
    overwrite: bool = False,
    stream: bool = False,
    progress: bool | None = None,
    init_from: PathLike | None = None,
) -> dict[str, Any]:
    """Train a model on a stored dataset (or on fresh streamed items) and save it in ``output``.

    Parameters
    ----------
    cfg : hepc9.config.Config
        Resolved configuration.
    dataset : path or None
        Dataset folder (see :func:`open_training_data`); with ``stream`` it fixes how items
        are built (spec, grid) and provides the validation items; ``None`` only with
        ``stream`` (items built as ``[datasets]`` describes, validated on streamed batches).
    output : path
        Model folder; an interrupted run there resumes.
    model_name : str, optional
        Registry name; default ``cfg.model.name``.
    epochs : int, optional
        Overrides ``cfg.train.epochs``.
    backend : str, optional
        Keras backend (``--backend``).
    overwrite : bool
        Replace a finished model in ``output``.
    stream : bool
        Train on items drawn fresh from the sampler for every batch
        (:class:`hepc9.datasets.stream.ImageStream`, ``[train] steps_per_epoch`` batches per
        epoch) instead of the stored training items.
    progress : bool, optional
        Keras progress bar; default on when stdout is a terminal, else one line per epoch;
        ``False`` silent.
    init_from : path, optional
        Start from the weights of this saved model (fine-tuning; networks of the common
        training loop only, see :mod:`hepc9.train.warm_start`).

    Returns
    -------
    dict
        :meth:`hepc9.train.TrainResult.to_dict`.
    """
    name = model_name or cfg.model.name
    spec = get_spec(name)  # an unknown model fails before any data are opened
    _backend.select(backend, cfg.train.backend)
    verbose: int | str
    if progress is False:
        verbose = 0
    elif progress is True or sys.stdout.isatty():
        verbose = "auto"
    else:
        verbose = 2
    trainer = spec.get_trainer()
    if trainer is not None:  # streams its own events: no dataset
        if init_from is not None:
            raise ConfigError(f"{name} trains from scratch on its own streamed events; "
                              "--init-from is for the set and image networks")
        return trainer(cfg, output, model_name=name, epochs=epochs, backend=backend,
                       overwrite=overwrite, verbose=verbose).to_dict()

    if dataset is None and not stream:
        raise DataError("training needs a dataset folder (--dataset), or --stream")
    train, validation = open_training_data(dataset) if dataset is not None else (None, None)
    data: Any = train
    if stream:
        data = _stream_source(cfg, train)
        if validation is None:
            validation = train
    result = train_model(
        data, model_name=name, cfg=cfg, output=output,
        validation=validation, epochs=epochs, overwrite=overwrite, verbose=verbose,
        init_from=init_from,
    )
    return result.to_dict()


def _events_per_item(index: Mapping[str, Any], info: Mapping[str, Any]) -> int | None:
    for key in ("events_per_image", "events_per_set", "events_per_item", "n_events"):
        value = index.get(key)
        if isinstance(value, int) and value > 0:
            return value
    value = info.get("events_per_set")
    return int(value) if value else None


def _set_spec(index: Mapping[str, Any]) -> Any:
    """Return the :class:`~hepc9.datasets.sets.SetSpec` recorded in the index, or None."""
    for key in ("standardisation", "set_spec", "spec"):
        data = index.get(key)
        if isinstance(data, Mapping) and "features" in data and "mean" in data:
            return SetSpec.from_dict(data)
    return None


def _set_features(events: Mapping[str, np.ndarray], index: Mapping[str, Any]) -> np.ndarray:
    """(n, F) event features as the set builder stores them (standardised with its spec)."""
    spec = _set_spec(index)
    if spec is not None:
        return spec.standardise(feature_matrix(events, spec.features))
    names = index.get("features")
    if not names:
        raise DataError(
            "the model's dataset index records neither a set spec nor 'features'; cannot "
            "build event sets from ntuples"
        )
    return feature_matrix(events, names)


def build_inputs(
    events: Mapping[str, np.ndarray], info: Mapping[str, Any], *,
    events_per_set: int | None = None,
) -> tuple[np.ndarray, int]:
    """Turn events into model items exactly as the training dataset was built.

    Parameters
    ----------
    events : dict of ndarray, shape (n,)
        Native columns (``q2 costheta_l costheta_k chi`` and ``flavour``).
    info : mapping
        ``model.json`` of the trained model.
    events_per_set : int, optional
        Events per image or set; default the trained size (all events in one set when fewer).

    Returns
    -------
    (ndarray, int)
        Items ``(B, ...)`` in the stored format and the number of events per item; events
        beyond ``B × size`` are left out.
    """
    index = info.get("dataset_index", {})
    n = len(next(iter(events.values()))) if events else 0
    if n == 0:
        raise DataError("the input files hold no events")
    size = events_per_set or _events_per_item(index, info) or n
    if size > n:
        log.warning("only %s events, fewer than the trained %s per set: using one set of %s",
                    n, size, n)
        size = n
    n_items = n // size
    if n_items * size < n:
        log.info("using %s sets of %s events; %s events left over", n_items, size,
                 n - n_items * size)
    if info["item_kind"] == "images":
        if not isinstance(index.get("spec"), Mapping) or "bins" not in index["spec"]:
            raise DataError("the model's dataset index has no image 'spec'; cannot voxelise")
        spec = ImageSpec.from_dict(index["spec"])
        if spec.uses_background:
            raise DataError(
                "this model uses background channels built from Mbc-sideband events; predict "
                "reads signal-region events only: rebuild its inputs with the images stage"
            )
        cols = {k: np.asarray(events[k])[: n_items * size] for k in
                ("costheta_l", "costheta_k", "chi", "q2", "flavour") if k in events}
        images = voxelize_batch(cols, spec, n_images=n_items)
        assert isinstance(images, np.ndarray)  # no return_dropped: images only
        return images, size
    feats = _set_features(events, index)[: n_items * size]
    return feats.reshape(n_items, size, feats.shape[1]), size


def predict_files(
    model_dir: PathLike,
    paths: Sequence[PathLike],
    *,
    events_per_set: int | None = None,
    layout: str = "auto",
    tree: str | None = None,
    ingest: Any = None,
    backend: str | None = None,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Measure δC9 in ntuples with a trained model.

    Parameters
    ----------
    model_dir : path
        Saved-model folder.
    paths : sequence of path
        Native or foreign ROOT files (globs allowed).
    events_per_set : int, optional
        Events per image/set; default the trained size.
    layout, tree : str, optional
        Input layout and tree (see :func:`hepc9.rootio.load_events`).
    ingest : hepc9.config.IngestConfig, optional
        Reading options.
    backend : str, optional
        Keras backend.
    batch_size : int
        Items per forward pass.

    Returns
    -------
    dict
        ``model``, ``files``, ``n_events``, ``n_sets``, ``events_per_set``, ``dc9`` (list, one
        per set), ``mean`` and ``std`` (over the sets), ``stderr`` (std/√n_sets; nan for one
        set), for the estimators that report them ``posterior_std``, ``lower``, ``upper`` per
        set, and for ``ratio`` ``common_error`` per set (its normalisation's error, shared by
        every set).
    """
    info = read_model_info(model_dir)
    events, _meta = load_events(list(paths), layout=layout, tree=tree, ingest=ingest)
    items, size = build_inputs(events, info, events_per_set=events_per_set)

    _backend.select(backend)

    model, info = load_predictor(model_dir)
    out = predict(model, info, items, batch_size=batch_size)
    dc9 = out["dc9"]
    n_sets = int(dc9.size)
    std = float(np.std(dc9, ddof=1)) if n_sets > 1 else math.nan
    summary: dict[str, Any] = {
        "model": str(model_dir),
        "model_name": info["model"],
        "files": [str(p) for p in paths],
        "n_events": len(events["q2"]) if "q2" in events else None,
        "n_sets": n_sets,
        "events_per_set": int(size),
        "dc9": dc9.tolist(),
        "mean": float(np.mean(dc9)),
        "std": std,
        "stderr": std / math.sqrt(n_sets) if n_sets > 1 else math.nan,
    }
    if "std" in out:
        summary["posterior_std"] = out["std"].tolist()
        summary["lower"] = out["lower"].tolist()
        summary["upper"] = out["upper"].tolist()
    if "common_error" in out:
        summary["common_error"] = out["common_error"].tolist()
    return summary
