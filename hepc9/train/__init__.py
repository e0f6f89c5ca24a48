"""Training and prediction of the neural δC9 estimators (Keras 3, any backend).

:func:`train_model` trains a registered model (:mod:`hepc9.models`) on a stored dataset
(images ``(N, X, Y, Z, C)`` or event sets ``(N, n, F)`` with float32 δC9 labels) or on batches
streamed fresh from the sampler, with the defaults of papers/002: SGD, mean absolute error,
batch 128, learning rate × 0.2 after 5 epochs without validation improvement down to 10⁻⁶,
early stopping after 20 epochs keeping the best weights, at most 1000 epochs.  It writes into
its output folder

* ``model.keras`` + ``model.json`` (see :func:`hepc9.models.save_model`): builder and
  arguments, item shape, label standardisation or the δC9 grid of the event classifier, input
  normalisation, the dataset's index information, configuration digest, versions, backend;
* ``history.json``, rewritten after every epoch (losses, learning rate);
* ``backup/`` while training runs: weights, optimiser and callback state after every epoch, so
  that calling :func:`train_model` again after an interruption resumes where it stopped and
  ends with the same model as an uninterrupted run.  It is removed when training finishes.

:func:`predict` turns inputs built exactly as in training into δC9 values: the regression
models undo the label standardisation, the event classifier combines its per-event
log-probabilities over each set into a posterior over the grid (flat prior) and returns the
posterior mean, standard deviation and quantiles (the registry entry's prediction hook).

Everything estimator-specific comes from the model's registry entry
(:class:`hepc9.models.EstimatorSpec`); this package never looks at a model's name.  Keras is
imported only inside the functions (after :func:`hepc9.models._backend.select`), so the backend
can still be chosen after ``import hepc9.train``.

Modules, one job each: :mod:`~hepc9.train.sources` (stored and streamed items),
:mod:`~hepc9.train.batches` (Keras datasets of batches), :mod:`~hepc9.train.callbacks`
(history, backup and resume state), :mod:`~hepc9.train.loop` (:func:`train_model`),
:mod:`~hepc9.train.metrics` (validation metrics), :mod:`~hepc9.train.model_info` (the
``model.json`` entries), :mod:`~hepc9.train.warm_start` (fine-tuning from a saved model),
:mod:`~hepc9.train.prediction` (loading and prediction).
"""

from __future__ import annotations

from hepc9.models.inputs import prepare_inputs
from hepc9.train.batches import make_array_batches, make_stream_batches
from hepc9.train.callbacks import BACKUP_DIR, HISTORY_FILE
from hepc9.train.loop import TrainResult, member_seed, train_model
from hepc9.train.prediction import load_predictor, predict
from hepc9.train.sources import (
    CALIBRATION_EPOCH,
    REFERENCE_EPOCH,
    VALIDATION_EPOCH,
    ArraySource,
    StreamSource,
    as_source,
    gather,
)

__all__ = [
    "BACKUP_DIR",
    "CALIBRATION_EPOCH",
    "HISTORY_FILE",
    "REFERENCE_EPOCH",
    "VALIDATION_EPOCH",
    "ArraySource",
    "StreamSource",
    "TrainResult",
    "as_source",
    "gather",
    "load_predictor",
    "make_array_batches",
    "make_stream_batches",
    "member_seed",
    "predict",
    "prepare_inputs",
    "train_model",
]
