"""The entries of ``model.json`` that a training records (what prediction needs to rebuild).

:func:`base_info` is shared by every trainer; :func:`model_info` adds what the common training
loop knows of its items (input normalisation from a label-independent reference, the label
standardisation or grid) and :func:`training_record` what the network was given.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepc9.models import EstimatorSpec
from hepc9.models.inputs import feature_normalisation
from hepc9.models.targets import label_info
from hepc9.seeding import seed_sequence
from hepc9.train.sources import ArraySource, StreamSource

__all__ = ["base_info", "model_info", "plain_config", "training_record"]


def plain_config(section: Any) -> dict[str, Any]:
    """Return a config section as plain JSON values."""
    return json.loads(json.dumps(dataclasses.asdict(section)))


def base_info(cfg: Any, *, name: str, builder: str, item_kind: str,
              item_shape: Sequence[int], input_shape: Sequence[int],
              dataset_index: dict[str, Any]) -> dict[str, Any]:
    """Return the entries of ``model.json`` every trained estimator records.

    Parameters
    ----------
    cfg : hepc9.config.Config
        The configuration trained with (its ``[model]`` section, digest, seed and member).
    name, builder : str
        Registry name and ``"module:function"`` of the builder.
    item_kind : str
        ``"images"`` or ``"sets"``.
    item_shape, input_shape : sequence of int
        Shape of a stored item and of the network's input.
    dataset_index : dict
        What the inputs were built like (features, standardisation, …).

    Returns
    -------
    dict
    """
    return {
        "model": name,
        "builder": builder,
        "model_config": plain_config(cfg.model),
        "item_kind": item_kind,
        "item_shape": [int(v) for v in item_shape],
        "input_shape": [int(v) for v in input_shape],
        "dataset_index": dataset_index,
        "config_digest": cfg.digest(),
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "member": cfg.train.member,
    }


def training_record(source: ArraySource | StreamSource) -> dict[str, Any]:
    """Return what the network was given: label prior, background fraction (model.json)."""
    rec: dict[str, Any] = {"stream": isinstance(source, StreamSource)}
    if isinstance(source, StreamSource):
        rec["background_fraction"] = source.background_fraction
        rec["labels"] = "prior" if source.prior is not None else "grid"
    else:
        rec["background_fraction"] = "fixed"
        rec["labels"] = "grid"
    if "background_fraction" in source.index:
        rec["background_fraction_value"] = source.index["background_fraction"]
    return rec


def model_info(spec: EstimatorSpec, cfg: Any, source: ArraySource | StreamSource,
                train_labels: np.ndarray, reference_x: Any) -> dict[str, Any]:
    """Everything prediction needs to rebuild inputs and decode outputs.

    ``reference_x`` (event sets) sets the input normalisation; it never depends on the labels.
    """
    item_shape = (tuple(int(s) for s in source.x.shape[1:]) if isinstance(source, ArraySource)
                  else tuple(int(s) for s in source.item_shape))
    kind = source.kind
    spec.check_item_kind(kind)
    info = base_info(cfg, name=spec.name, builder=spec.builder_path, item_kind=kind,
                     item_shape=item_shape, input_shape=spec.input_shape(item_shape),
                     dataset_index=json.loads(json.dumps(dict(source.index), default=str)))
    if kind == "sets":
        rows = None
        if isinstance(source, ArraySource):
            # a seeded random choice over every label, not the first (one-label) items
            gen = np.random.Generator(np.random.PCG64(seed_sequence(cfg.seed, "train", 3)))
            rows = gen.permutation(reference_x.shape[0])
        info["input_normalisation"] = feature_normalisation(
            reference_x, mask_padding=cfg.model.mask_padding and spec.mask_padding, rows=rows)
        info["events_per_set"] = int(item_shape[0])
        info["features"] = list(source.index.get("features", [])) or None
    prior = source.prior if isinstance(source, StreamSource) else None
    info["labels"] = label_info(spec.target, train_labels,
                                standardize=cfg.train.standardize_labels, prior=prior,
                                bins=int(getattr(cfg.model, "event_bins", 81)))
    return info
