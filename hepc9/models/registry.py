"""The estimator registry: one frozen :class:`EstimatorSpec` per neural δC9 estimator.

An entry says everything the generic training, prediction and pipeline code needs to know
about an estimator, so that adding one is a module with its builder plus one
:func:`register` call (or one line in :data:`ESTIMATORS`):

* what it reads (``item_kind``: image datasets or event-set datasets; ``per_event``: trained
  on the single events of the sets, one event per input);
* what it learns (``target``: a standardised δC9 value, or the class index over the δC9
  label grid) and with which loss;
* the ``[train]`` key of its batch size, whether its feature standardisation leaves padding
  rows alone (``mask_padding``);
* how a trained model turns prepared inputs into δC9 (``predictor``) and whether it is
  calibrated on validation sets after training (``calibrator``).

Builders and hooks are ``"module:function"`` strings imported on lookup (or plain callables),
so ``import hepc9.models`` loads no Keras.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hepc9.errors import ConfigError, did_you_mean
from hepc9.models import _backend

__all__ = [
    "ESTIMATORS",
    "FIT_METHOD",
    "ITEM_KINDS",
    "REGISTRY",
    "TARGETS",
    "EstimatorSpec",
    "build_model",
    "check_method_names",
    "get_builder",
    "get_spec",
    "method_names",
    "model_names",
    "register",
    "resolve_hook",
    "unregister",
]

#: Dataset kinds an estimator can read.
ITEM_KINDS: tuple[str, ...] = ("images", "sets")
#: What an estimator learns: a (standardised) δC9 value, or the class index over the grid.
TARGETS: tuple[str, ...] = ("regression", "grid", "coefficients")
#: Name of the likelihood-fit method of ``[evaluate] methods`` (not a neural estimator).
FIT_METHOD = "fit"

Hook = str | Callable[..., Any]

_KIND_WORDS = {"images": "an image dataset", "sets": "an event-set dataset"}


def resolve_hook(target: Hook) -> Callable[..., Any]:
    """Return the function named by ``"module:function"`` (imported now), or ``target`` itself.

    Parameters
    ----------
    target : str or callable
        ``"package.module:function"`` or a callable.

    Returns
    -------
    callable
    """
    if callable(target):
        return target
    module_name, _, func_name = str(target).partition(":")
    if not func_name:
        raise ConfigError(f"hook '{target}' is not of the form 'module:function'")
    return getattr(importlib.import_module(module_name), func_name)


def _hook_path(target: Hook) -> str:
    if callable(target):
        return f"{target.__module__}:{getattr(target, '__qualname__', repr(target))}"
    return str(target)


@dataclass(frozen=True, slots=True, kw_only=True)
class EstimatorSpec:
    """Behaviour of one registered neural estimator.

    Attributes
    ----------
    name : str
        Registry name (``--model``, ``[model] name``, ``[evaluate] methods``).
    builder : str or callable
        ``build(input_shape, cfg, **extra) -> keras.Model`` (uncompiled), as
        ``"module:function"``; grid targets receive ``n_classes``.
    item_kind : str
        ``"images"`` (items ``(X, Y, Z, C)``) or ``"sets"`` (items ``(n, F)``).
    target : str
        ``"regression"``: one output, the δC9 value (standardised when ``[train]
        standardize_labels``); ``"grid"``: logits over the distinct training labels, trained
        on class indices.
    per_event : bool
        Train on the single events of the sets (inputs ``(F,)``; batches count events).
    loss : str, optional
        Fixed loss (``"crossentropy"``, ``"mae"``, ``"mse"``); ``None`` uses ``[train] loss``.
    batch_size_key : str
        ``[train]`` key of the training batch size.
    mask_padding : bool
        Whether ``[model] mask_padding`` applies to the feature standardisation (all-zero
        padding rows stay zero).
    predictor : str or callable
        ``predict(model, info, x, *, batch_size, quantiles) -> dict`` of δC9 arrays for
        stored-format items ``x`` (``dc9``; optionally ``std``, ``lower``, ``upper``, ``mode``).
    calibrator : str or callable, optional
        ``calibrate(model, info, x, y, indices) -> dict or None`` run on the validation sets
        after training (when ``[train] calibrate_sets``); the dict is merged into the label
        description of ``model.json``.
    trainer : str or callable, optional
        ``train(cfg, output, *, model_name, epochs, backend, overwrite, verbose) ->
        TrainResult`` for estimators trained on freshly streamed events rather than stored
        items (``target = "coefficients"``: the exact per-event quadratic-form coefficients);
        ``cfg`` is the configuration of the level.  Such estimators need no dataset.
    layers : tuple of str
        Modules defining serialisable Keras layers that saved models of this estimator use
        beyond the builder module's own (imported before a model is loaded, so that it loads
        in a fresh process).
    description : str
        One line for listings.
    """

    name: str
    builder: Hook
    item_kind: str
    target: str = "regression"
    per_event: bool = False
    loss: str | None = None
    batch_size_key: str = "batch_size"
    mask_padding: bool = False
    predictor: Hook = "hepc9.models.targets:predict_regression"
    calibrator: Hook | None = None
    trainer: Hook | None = None
    layers: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.item_kind not in ITEM_KINDS:
            raise ConfigError(f"estimator '{self.name}': item_kind '{self.item_kind}' is not "
                              f"one of {', '.join(ITEM_KINDS)}")
        if self.target not in TARGETS:
            raise ConfigError(f"estimator '{self.name}': target '{self.target}' is not one of "
                              f"{', '.join(TARGETS)}")
        if self.per_event and self.item_kind != "sets":
            raise ConfigError(f"estimator '{self.name}': per_event needs item_kind 'sets'")
        if self.name == FIT_METHOD:
            raise ConfigError(f"'{FIT_METHOD}' names the likelihood fit; choose another name")

    @property
    def builder_path(self) -> str:
        """The builder as ``"module:function"`` (recorded in ``model.json``)."""
        return _hook_path(self.builder)

    def get_builder(self) -> Callable[..., Any]:
        """Return the builder function (importing its module)."""
        return resolve_hook(self.builder)

    def get_predictor(self) -> Callable[..., Any]:
        """Return the prediction hook."""
        return resolve_hook(self.predictor)

    def get_calibrator(self) -> Callable[..., Any] | None:
        """Return the calibration hook, or ``None``."""
        return None if self.calibrator is None else resolve_hook(self.calibrator)

    def get_trainer(self) -> Callable[..., Any] | None:
        """Return the streamed-training hook, or ``None`` (trained by the generic loop)."""
        return None if self.trainer is None else resolve_hook(self.trainer)

    @property
    def needs_dataset(self) -> bool:
        """Whether the estimator trains on a stored dataset (no own ``trainer``)."""
        return self.trainer is None

    def input_shape(self, item_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one model input for items of ``item_shape`` (one event if ``per_event``)."""
        shape = tuple(int(s) for s in item_shape)
        return shape[-1:] if self.per_event else shape

    def loss_name(self, train_cfg: Any) -> str:
        """Return the training loss: the fixed one, else ``[train] loss``."""
        return self.loss if self.loss is not None else str(train_cfg.loss)

    def batch_size(self, train_cfg: Any) -> int:
        """Training batch size from ``[train]`` (events for ``per_event`` estimators)."""
        return int(getattr(train_cfg, self.batch_size_key))

    def build_extra(self, labels: Mapping[str, Any]) -> dict[str, Any]:
        """Builder arguments that depend on the labels (``n_classes`` for grid targets)."""
        if self.target == "grid":
            return {"n_classes": len(labels["grid"])}
        return {}

    def check_item_kind(self, kind: str) -> None:
        """Raise :class:`ConfigError` unless datasets of ``kind`` suit this estimator."""
        if kind == self.item_kind:
            return
        others = [s.name for s in ESTIMATORS.values() if s.item_kind == kind]
        hint = f"; use --model {' or '.join(others)}" if others else ""
        raise ConfigError(
            f"model '{self.name}' needs {_KIND_WORDS[self.item_kind]}, this one holds {kind}"
            f"{hint}"
        )


#: Name → spec of every registered estimator, in a fixed order.
ESTIMATORS: dict[str, EstimatorSpec] = {
    spec.name: spec
    for spec in (
        EstimatorSpec(
            name="resnet3d", builder="hepc9.models.resnet3d:build", item_kind="images",
            description="3D ResNet on δC9 images (papers/002)",
        ),
        EstimatorSpec(
            name="deepsets", builder="hepc9.models.deepsets:build", item_kind="sets",
            mask_padding=True, description="Deep Sets on event sets (papers/003)",
        ),
        EstimatorSpec(
            name="event", builder="hepc9.models.event_classifier:build", item_kind="sets",
            target="grid", per_event=True, loss="crossentropy",
            batch_size_key="event_batch_size",
            predictor="hepc9.models.event_classifier:predict_sets",
            calibrator="hepc9.models.event_classifier:calibrate_sets",
            layers=("hepc9.models.quadratic_head",),
            description="per-event classifier over the δC9 grid, combined per set",
        ),
        EstimatorSpec(
            name="event_exact", builder="hepc9.models.event_classifier:build",
            item_kind="sets", target="grid", per_event=True, loss="crossentropy",
            batch_size_key="exact_batch_size",
            predictor="hepc9.models.event_classifier:predict_sets",
            trainer="hepc9.train.event_exact:train_event_exact",
            layers=("hepc9.models.quadratic_head",),
            description="per-event classifier trained on the exact per-event posteriors of "
                        "streamed events (soft targets), combined per set",
        ),
        EstimatorSpec(
            name="ratio", builder="hepc9.models.ratio:build", item_kind="sets",
            target="coefficients", per_event=True, loss="mse",
            batch_size_key="ratio_batch_size",
            predictor="hepc9.models.ratio:predict_sets",
            trainer="hepc9.train.ratio:train_ratio",
            description="learned likelihood: per-event quadratic-rate coefficients (MSE on "
                        "exact targets), maximised per set",
        ),
    )
}


class _BuilderView(Mapping[str, str]):
    """Read-only live view name → ``"module:function"`` builder of :data:`ESTIMATORS`."""

    def __getitem__(self, name: str) -> str:
        return ESTIMATORS[name].builder_path

    def __iter__(self) -> Iterator[str]:
        return iter(ESTIMATORS)

    def __len__(self) -> int:
        return len(ESTIMATORS)

    def __repr__(self) -> str:
        return f"REGISTRY({dict(self)!r})"


#: Builder name → ``"module:function"``; a live view of :data:`ESTIMATORS`.
REGISTRY: Mapping[str, str] = _BuilderView()


def register(spec: EstimatorSpec, *, replace: bool = False) -> EstimatorSpec:
    """Add an estimator to the registry.

    Parameters
    ----------
    spec : EstimatorSpec
        The entry.
    replace : bool
        Allow replacing an entry of the same name.

    Returns
    -------
    EstimatorSpec
        ``spec``.
    """
    if spec.name in ESTIMATORS and not replace:
        raise ConfigError(f"an estimator named '{spec.name}' is already registered")
    ESTIMATORS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove an estimator from the registry (no error if absent)."""
    ESTIMATORS.pop(name, None)


def get_spec(name: str) -> EstimatorSpec:
    """Return the spec registered as ``name``.

    Raises
    ------
    ConfigError
        For an unknown name (with the closest registered name).
    """
    try:
        return ESTIMATORS[name]
    except KeyError:
        hint = did_you_mean(name, ESTIMATORS)
        raise ConfigError(
            f"unknown model '{name}'; registered models are {', '.join(ESTIMATORS)}{hint}"
        ) from None


def model_names() -> tuple[str, ...]:
    """Names of the registered neural estimators, in registry order."""
    return tuple(ESTIMATORS)


def method_names() -> tuple[str, ...]:
    """Every ``[evaluate] methods`` entry: ``"fit"`` then the registered estimators."""
    return (FIT_METHOD, *ESTIMATORS)


def check_method_names(methods: Any, *, origin: str = "the configuration") -> None:
    """Raise :class:`ConfigError` for a method that is neither ``fit`` nor registered.

    Parameters
    ----------
    methods : iterable of str
        ``[evaluate] methods``.
    origin : str
        Where the value came from (for the message).
    """
    known = method_names()
    for m in methods:
        if m not in known:
            raise ConfigError(f"[evaluate] methods in {origin}: unknown method '{m}'"
                              f"{did_you_mean(m, known)} (known: {', '.join(known)})")


def get_builder(name: str, *, backend: str | None = None) -> Callable[..., Any]:
    """Return the builder function registered as ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`ESTIMATORS`.
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
    spec = get_spec(name)
    _backend.select(backend)
    return spec.get_builder()


def build_model(name: str, input_shape: tuple[int, ...], cfg: Any, **extra: Any) -> Any:
    """Build the uncompiled model ``name`` for inputs of shape ``input_shape``.

    Parameters
    ----------
    name : str
        Registry name.
    input_shape : tuple of int
        Shape of one input (no batch axis).
    cfg : hepc9.config.ModelConfig
        Architecture settings.
    **extra
        Builder-specific arguments (``n_classes`` for grid targets).

    Returns
    -------
    keras.Model
    """
    return get_builder(name)(tuple(int(n) for n in input_shape), cfg, **extra)
