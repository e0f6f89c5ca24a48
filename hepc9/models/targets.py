"""Training targets: δC9 labels to network targets and network outputs back to δC9.

Two target kinds (:attr:`hepc9.models.registry.EstimatorSpec.target`), described in
``model.json`` under ``labels``:

* ``regression`` → ``{"kind": "standardized", "mean", "std"}``: the network learns
  (δC9 − mean) / std, its output is mapped back with the same constants;
* ``grid`` → ``{"kind": "grid", "grid": [...]}``: the network learns the class index of δC9
  on the sorted distinct training labels (rounded to 10⁻⁶), or, for continuous labels from a
  prior, on ``bins`` evenly spaced bin centres (``"binned": true``, nearest centre).

Labels drawn from a continuous prior record it as ``"prior": {"low", "high"}``.

:func:`predict_regression` is the prediction hook of regression estimators.  Plain numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.models.inputs import batched, prepare_inputs

__all__ = [
    "LABEL_DECIMALS",
    "class_indices",
    "decode_outputs",
    "encode_labels",
    "label_grid",
    "label_info",
    "predict_regression",
    "true_values",
]

#: Decimals to which δC9 labels are rounded before matching them to the grid.
LABEL_DECIMALS = 6


def label_grid(y: np.ndarray) -> np.ndarray:
    """Sorted distinct labels (rounded to :data:`LABEL_DECIMALS`); at least two."""
    grid = np.unique(np.round(np.asarray(y, dtype=np.float64), LABEL_DECIMALS))
    if grid.size < 2:
        raise DataError(
            f"the labels take {grid.size} distinct value(s); an estimator needs at least 2 δC9 "
            "values"
        )
    return grid


def class_indices(y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Grid index of every label (int32); labels off the grid raise :class:`DataError`."""
    y64 = np.round(np.asarray(y, dtype=np.float64), LABEL_DECIMALS)
    pos = np.clip(np.searchsorted(grid, y64), 0, grid.size - 1)
    lower = np.clip(pos - 1, 0, grid.size - 1)
    pos = np.where(np.abs(grid[lower] - y64) < np.abs(grid[pos] - y64), lower, pos)
    bad = np.abs(grid[pos] - y64) > 10.0**-LABEL_DECIMALS
    if np.any(bad):
        raise DataError(
            f"label δC9 = {float(y64[bad][0])} is not on the training grid of the event model "
            f"({grid.size} values in [{grid[0]}, {grid[-1]}])"
        )
    return pos.astype(np.int32)


def _nearest(y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the nearest grid value (bins of a continuous prior; int32, clipped)."""
    pos = np.clip(np.searchsorted(grid, y), 1, grid.size - 1)
    left = np.abs(y - grid[pos - 1]) <= np.abs(grid[pos] - y)
    return np.where(left, pos - 1, pos).astype(np.int32)


def label_info(target: str, y: np.ndarray, *, standardize: bool,
               prior: Mapping[str, float] | None = None, bins: int = 81) -> dict[str, Any]:
    """Return the ``labels`` entry of ``model.json`` for training labels ``y``.

    Parameters
    ----------
    target : str
        ``"regression"`` or ``"grid"``.
    y : ndarray, shape (N,)
        Training δC9 labels (ignored with a ``prior``).
    standardize : bool
        Regression only: learn (δC9 − mean) / std (else mean 0, std 1).
    prior : mapping, optional
        ``{"low", "high"}`` of continuous labels drawn uniformly: regression targets are
        standardised with its mean and std; grid targets use ``bins`` evenly spaced bin
        centres from low to high (``"binned": true``; a label goes to its nearest centre).
        Recorded as ``prior``.
    bins : int
        Classes of a binned grid target.

    Returns
    -------
    dict
    """
    y = np.asarray(y, dtype=np.float64)
    if prior is not None:
        lo, hi = float(prior["low"]), float(prior["high"])
        if not lo < hi:
            raise DataError(f"the label prior [{lo}, {hi}] must have low below high")
        rec: dict[str, Any] = {"prior": {"low": lo, "high": hi}}
        if prior.get("step"):
            rec["prior"]["step"] = float(prior["step"])  # labels on the lattice low + k·step
        if target == "grid":
            if bins < 2:
                raise DataError(f"a binned label grid needs at least 2 bins, got {bins}")
            return {"kind": "grid", "grid": np.linspace(lo, hi, int(bins)).tolist(),
                    "binned": True, **rec}
        if standardize:
            return {"kind": "standardized", "mean": 0.5 * (lo + hi),
                    "std": (hi - lo) / np.sqrt(12.0), **rec}
        return {"kind": "standardized", "mean": 0.0, "std": 1.0, **rec}
    if target == "grid":
        return {"kind": "grid", "grid": label_grid(y).tolist()}
    if standardize:
        std = float(y.std())
        if not std > 0:
            raise DataError("all training labels are equal; an estimator needs distinct δC9")
        return {"kind": "standardized", "mean": float(y.mean()), "std": std}
    return {"kind": "standardized", "mean": 0.0, "std": 1.0}


def encode_labels(y: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
    """δC9 labels → network targets (class indices or standardised float32 values)."""
    labels = info["labels"]
    if labels["kind"] == "grid":
        grid = np.asarray(labels["grid"], dtype=np.float64)
        if labels.get("binned"):
            return _nearest(np.asarray(y, dtype=np.float64), grid)
        return class_indices(y, grid)
    return ((np.asarray(y, dtype=np.float64) - labels["mean"]) / labels["std"]).astype(
        np.float32
    )


def true_values(encoded: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_labels` for regression targets (float64 δC9)."""
    labels = info["labels"]
    return np.asarray(encoded, dtype=np.float64) * labels["std"] + labels["mean"]


def decode_outputs(raw: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
    """Regression outputs ``(B, 1)`` → δC9 ``(B,)`` (float64)."""
    labels = info["labels"]
    return np.asarray(raw, dtype=np.float64).reshape(-1) * labels["std"] + labels["mean"]


def predict_regression(model: Any, info: Mapping[str, Any], x: np.ndarray, *,
                       batch_size: int = 64,
                       quantiles: tuple[float, float] = (0.16, 0.84)) -> dict[str, np.ndarray]:
    """Prediction hook of regression estimators: δC9 per item.

    Parameters
    ----------
    model : keras.Model
        Trained model.
    info : mapping
        Its ``model.json``.
    x : ndarray, shape (N, ...)
        Stored-format items.
    batch_size : int
        Items per forward pass.
    quantiles : (float, float)
        Unused (regression estimators report no interval).

    Returns
    -------
    dict
        ``dc9``: ndarray, shape (N,).
    """
    out = np.empty(x.shape[0])
    for sl in batched(x.shape[0], batch_size):
        out[sl] = decode_outputs(np.asarray(model.predict_on_batch(prepare_inputs(x[sl], info))),
                                 info)
    return {"dc9": out}
