"""Validation metrics in δC9 units, computed on the final model after training."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.models import EstimatorSpec
from hepc9.models.targets import decode_outputs, true_values
from hepc9.train.prediction import predict
from hepc9.train.sources import ArraySource

__all__ = ["regression_metrics", "validation_metrics"]

#: Validation sets of a per-event estimator evaluated as whole sets.
_SET_VALIDATION_ITEMS = 256


def regression_metrics(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Mean absolute error, RMS error, bias and correlation of predictions.

    Parameters
    ----------
    truth, pred : ndarray, shape (N,)
        True and predicted δC9.

    Returns
    -------
    dict
        ``n``, ``mae``, ``rmse``, ``bias`` (mean of pred − truth), ``corr`` (Pearson; nan when
        undefined).
    """
    diff = pred - truth
    corr = (float(np.corrcoef(truth, pred)[0, 1])
            if truth.size > 1 and np.std(truth) > 0 and np.std(pred) > 0 else math.nan)
    return {"n": int(truth.size), "mae": float(np.mean(np.abs(diff))),
            "rmse": float(np.sqrt(np.mean(diff**2))), "bias": float(np.mean(diff)),
            "corr": corr}


def validation_metrics(spec: EstimatorSpec, model: Any, info: Mapping[str, Any],
                       val_ds: Any) -> dict[str, float]:
    """δC9-unit metrics of the final model on the validation batches.

    Parameters
    ----------
    spec : EstimatorSpec
        The estimator's registry entry.
    model : keras.Model
        Trained model.
    info : mapping
        Its metadata.
    val_ds : PyDataset
        The validation batches of training.

    Returns
    -------
    dict
        :func:`regression_metrics`; per-event and grid-target estimators are evaluated on
        whole validation sets through :func:`hepc9.train.predict` (per-event accuracy is no
        δC9 metric), and give ``{}`` when validating on a stream.
    """
    if spec.per_event or spec.target != "regression":
        src = getattr(val_ds, "source", None)
        if not isinstance(src, ArraySource):
            return {}
        idx = np.asarray(val_ds.indices)[:_SET_VALIDATION_ITEMS]
        out = predict(model, info, np.asarray(src.x[idx]))
        return regression_metrics(np.asarray(src.y[idx], dtype=np.float64), out["dc9"])
    truths, preds = [], []
    for i in range(len(val_ds)):
        x, y = val_ds[i]
        preds.append(decode_outputs(np.asarray(model.predict_on_batch(x)), info))
        truths.append(true_values(y, info))
    return regression_metrics(np.concatenate(truths), np.concatenate(preds))
