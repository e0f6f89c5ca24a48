"""Neural-network estimators of δC9: a registry of estimator specs, save and load.

Every estimator is one :class:`~hepc9.models.registry.EstimatorSpec` in
:data:`~hepc9.models.registry.ESTIMATORS`: its builder (a pure function
``build(input_shape, cfg, **extra) -> keras.Model`` returning an uncompiled model, named as a
``"module:function"`` string imported only on lookup, so ``import hepc9.models`` loads no
Keras), the dataset kind it reads, its target and loss, its batch size and its prediction and
calibration hooks.  The generic training (:mod:`hepc9.train`) and the pipeline read only the
spec, so a new estimator is one module plus one entry.

* ``resnet3d``: the 3D ResNet of papers/002 (depth 10/18/34, width multiplier), images
  ``(X, Y, Z, C)`` → δC9;
* ``deepsets``: Deep Sets, φ per event, mean pooling, ρ → δC9, event sets ``(n, F)``;
* ``event``: a per-event classifier over the δC9 label grid, events ``(F,)``, combined over a
  set into a posterior (:mod:`hepc9.models.event_classifier`).

Modules: :mod:`~hepc9.models.registry` (specs, lookup, method names),
:mod:`~hepc9.models.inputs` (feature standardisation, batching),
:mod:`~hepc9.models.targets` (label encoding and decoding, regression prediction),
:mod:`~hepc9.models.saving` (``model.keras`` + ``model.json``), ``_backend`` (Keras backend
choice), and one module per architecture.
"""

from __future__ import annotations

from hepc9.models.registry import (
    ESTIMATORS,
    FIT_METHOD,
    REGISTRY,
    EstimatorSpec,
    build_model,
    check_method_names,
    get_builder,
    get_spec,
    method_names,
    model_names,
    register,
    unregister,
)
from hepc9.models.saving import (
    META_FILE,
    MODEL_FILE,
    MODEL_FORMAT,
    copy_model,
    load_model,
    read_model_info,
    save_model,
)

__all__ = [
    "ESTIMATORS",
    "FIT_METHOD",
    "META_FILE",
    "MODEL_FILE",
    "MODEL_FORMAT",
    "REGISTRY",
    "EstimatorSpec",
    "build_model",
    "check_method_names",
    "copy_model",
    "get_builder",
    "get_spec",
    "load_model",
    "method_names",
    "model_names",
    "read_model_info",
    "register",
    "save_model",
    "unregister",
]
