"""Prediction with trained models: load a model folder, δC9 for stored-format items.

:func:`predict` checks the items against the model's stored item shape and hands them to the
prediction hook of the model's registry entry (:attr:`hepc9.models.EstimatorSpec.predictor`):
regression models undo the label standardisation, the event classifier combines its per-event
log-probabilities over each set into a posterior over the grid (flat prior) and returns the
posterior mean, standard deviation and quantiles.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.errors import ShapeError
from hepc9.models import get_spec, load_model

__all__ = ["check_items", "load_predictor", "predict"]


def load_predictor(directory: str | os.PathLike[str], *,
                   backend: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a trained model and its metadata (see :func:`hepc9.models.load_model`).

    Parameters
    ----------
    directory : path
        Saved-model folder.
    backend : str, optional
        Keras backend to select if Keras is not loaded yet.

    Returns
    -------
    (keras.Model, dict)
    """
    return load_model(directory, backend=backend)


def check_items(x: np.ndarray, info: Mapping[str, Any]) -> None:
    """Raise :class:`ShapeError` unless ``x`` holds items like the model's training items.

    Parameters
    ----------
    x : ndarray
        Images ``(N, X, Y, Z, C)`` (same item shape as in training) or event sets
        ``(N, n, F)`` (any ``n``, same ``F``).
    info : mapping
        The model's ``model.json`` (``item_kind``, ``item_shape``).
    """
    expected = tuple(info["item_shape"])
    if info["item_kind"] == "images":
        if x.ndim != 5 or tuple(x.shape[1:]) != expected:
            raise ShapeError(f"images of shape {tuple(x.shape)} do not match the model's "
                             f"{expected}")
    elif x.ndim != 3 or x.shape[-1] != expected[-1]:
        raise ShapeError(f"event sets of shape {tuple(x.shape)} do not match the model's "
                         f"(N, n, {expected[-1]})")


def predict(model: Any, info: Mapping[str, Any], x: Any, *, batch_size: int = 64,
            quantiles: tuple[float, float] = (0.16, 0.84)) -> dict[str, np.ndarray]:
    """Predict δC9 for stored-format items.

    Parameters
    ----------
    model : keras.Model
        Trained model.
    info : mapping
        Its ``model.json``.
    x : ndarray, shape (N, X, Y, Z, C) or (N, n, F)
        Items as stored in the training dataset (raw features for sets).
    batch_size : int
        Items per forward pass.
    quantiles : (float, float)
        Posterior quantiles of the interval (estimators that report one).

    Returns
    -------
    dict of ndarray, shape (N,)
        ``dc9`` (δC9 per item); for the event classifier also ``std``, ``lower``, ``upper``
        (posterior standard deviation and quantiles) and ``mode``.
    """
    x = np.asarray(x)
    check_items(x, info)
    hook = get_spec(info["model"]).get_predictor()
    return hook(model, info, x, batch_size=batch_size, quantiles=quantiles)
