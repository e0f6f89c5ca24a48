"""Model inputs: the feature standardisation that travels with a model, and batching.

The constants are computed once from a label-independent reference (:func:`feature_normalisation`:
reference batches of a stream, or a seeded random choice of stored items over all labels),
stored in ``model.json`` (``input_normalisation``) and applied by :func:`prepare_inputs` in
training and prediction alike, so a model always sees inputs built the same way.  Plain numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from hepc9.errors import DataError, ShapeError

__all__ = ["batched", "feature_normalisation", "prepare_inputs"]


def feature_normalisation(x: Any, *, mask_padding: bool, limit: int = 200_000,
                          rows: np.ndarray | None = None) -> dict:
    """Mean and standard deviation of every event feature over (up to ``limit``) events.

    Parameters
    ----------
    x : ndarray, shape (N, n, F)
        Event sets (memory-mapped is fine); a label-independent reference sample, or, with
        ``rows``, the items of a draw that does not look at the labels (a seeded random
        choice over all labels).  Without ``rows`` the first items are read.
    rows : ndarray of int, optional
        Items to read (their order does not matter).
    mask_padding : bool
        Leave all-zero padding rows out of the statistics (and out of the scaling later).
    limit : int
        Events to use at most.

    Returns
    -------
    dict
        ``mean`` and ``std`` (lists of F floats; a zero spread becomes 1) and
        ``mask_padding``.
    """
    n_items = x.shape[0]
    per_item = x.shape[1]
    take = max(1, min(n_items, math.ceil(limit / max(per_item, 1))))
    sel: Any = slice(0, take) if rows is None else np.sort(np.asarray(rows, np.int64)[:take])
    sample = np.asarray(x[sel], dtype=np.float64).reshape(-1, x.shape[-1])
    if mask_padding:
        sample = sample[np.any(sample != 0, axis=1)]
    if sample.shape[0] < 2:
        raise DataError("too few events to standardise the features (need at least 2)")
    mean = sample.mean(axis=0)
    std = sample.std(axis=0)
    std[~(std > 0)] = 1.0
    return {"mean": mean.tolist(), "std": std.tolist(), "mask_padding": bool(mask_padding)}


def prepare_inputs(x: Any, info: Mapping[str, Any]) -> np.ndarray:
    """Turn stored items into the float32 model inputs, exactly as in training.

    Parameters
    ----------
    x : ndarray, shape (B, X, Y, Z, C) or (B, n, F)
        Images (used as stored) or event sets (features standardised with the constants in
        ``info["input_normalisation"]``; all-zero padding rows stay zero when masking).
    info : mapping
        The model metadata (``model.json``) or the part of it built during training.

    Returns
    -------
    ndarray, float32
        Same shape as ``x``.
    """
    out = np.asarray(x, dtype=np.float32)
    norm = info.get("input_normalisation")
    if norm:
        mean = np.asarray(norm["mean"], dtype=np.float32)
        std = np.asarray(norm["std"], dtype=np.float32)
        if out.shape[-1] != mean.shape[0]:
            raise ShapeError(
                f"items have {out.shape[-1]} features per event, the model expects {mean.shape[0]}"
            )
        scaled = (out - mean) / std
        if norm.get("mask_padding"):
            keep = np.any(out != 0, axis=-1, keepdims=True)
            scaled = np.where(keep, scaled, np.float32(0))
        out = scaled.astype(np.float32, copy=False)
    return out


def batched(n: int, size: int) -> Iterator[slice]:
    """Yield consecutive slices of at most ``size`` covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
