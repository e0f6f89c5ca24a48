"""Validation of a built configuration: the rules that the types alone do not express.

:func:`validate` runs the top-level and ``[generate]`` base checks, then one check per area in
a fixed order: ``[evaluate]``, ``[datasets]``, ``[ingest]``, ``[model]``/``[train]``,
``[detector]``/``[background]``/``[selection]`` (:mod:`hepc9.config.checks_detector`),
``[generate]`` and ``[fit]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hepc9.config.checks_data import check_datasets, check_ingest
from hepc9.config.checks_detector import check_detector_background_selection
from hepc9.config.names import BACKENDS, LEVELS, SHIFT_NAMES
from hepc9.config.root import CONFIG_VERSION, Config
from hepc9.errors import ConfigError, check_names, did_you_mean

__all__ = ["validate"]


def validate(cfg: Config, origin: str) -> None:
    """Check the values of a built configuration that the types alone do not constrain.

    Parameters
    ----------
    cfg : Config
        The configuration built from the file and overrides.
    origin : str
        File or source name, for error messages.

    Raises
    ------
    ConfigError
        On the first impossible value, naming section, key, value and origin.
    """
    if cfg.config_version != CONFIG_VERSION:
        raise ConfigError(
            f"config_version = {cfg.config_version} in {origin} is not supported "
            f"(this hepc9 reads version {CONFIG_VERSION})"
        )
    if cfg.seed < 0:
        raise ConfigError(f"seed = {cfg.seed} in {origin} must be a non-negative integer")
    g = cfg.generate
    if g.events <= 0:
        raise ConfigError(f"[generate] events = {g.events} in {origin} must be positive")
    if g.chunk_size <= 0:
        raise ConfigError(f"[generate] chunk_size = {g.chunk_size} in {origin} must be positive")
    if g.threads < 0:
        raise ConfigError(f"[generate] threads = {g.threads} in {origin} must be >= 0")
    if g.q2_min is not None and g.q2_max is not None and g.q2_min >= g.q2_max:
        raise ConfigError(
            f"[generate] q2_min = {g.q2_min} must be below q2_max = {g.q2_max} in {origin}"
        )
    if not 0.0 <= cfg.background.fraction < 1.0:
        raise ConfigError(
            f"[background] fraction = {cfg.background.fraction} in {origin} must be in [0, 1)"
        )
    if cfg.scale.workers < 0:
        raise ConfigError(f"[scale] workers = {cfg.scale.workers} in {origin} must be >= 0 "
                          "(0: one per core)")
    for check in _SECTION_CHECKS:
        check(cfg, origin)


def _check_evaluate(cfg: Config, origin: str) -> None:
    """Check the ``[evaluate]`` values."""
    e = cfg.evaluate
    # Method names are checked against the estimator registry (hepc9.models) by the run,
    # before any work: the registry is the one list of estimators.
    for level in e.levels:
        if level not in LEVELS:
            raise ConfigError(f"[evaluate] levels in {origin}: '{level}' is not 'gen' or 'det'")
    extra = [m for m in e.det_methods if m not in e.methods]
    if extra:
        raise ConfigError(f"[evaluate] det_methods = {list(e.det_methods)} in {origin} names "
                          f"'{extra[0]}', which is not in methods = {list(e.methods)}")
    if "det" in e.levels and not cfg.detector.enabled:
        raise ConfigError(f"[evaluate] levels in {origin} includes 'det' but [detector] "
                          "enabled = false; enable the detector or drop the 'det' level")
    if not e.events_per_set or any(n <= 0 for n in e.events_per_set):
        raise ConfigError(f"[evaluate] events_per_set = {list(e.events_per_set)} in {origin} "
                          "must be positive integers")
    if any(n <= 0 for n in e.fit_scaling_events):
        raise ConfigError(f"[evaluate] fit_scaling_events = {list(e.fit_scaling_events)} in "
                          f"{origin} must be positive integers")
    if e.sets_per_truth < 2:
        raise ConfigError(f"[evaluate] sets_per_truth = {e.sets_per_truth} in {origin} must be "
                          ">= 2 (spreads need several pseudo-experiments)")
    if e.distribution_events <= 0:
        raise ConfigError(f"[evaluate] distribution_events in {origin} must be positive")
    if not e.prior_margin >= 0.0:
        raise ConfigError(f"[evaluate] prior_margin = {e.prior_margin} in {origin} must be "
                          ">= 0 (σ_CRB between an evaluated truth and the training-prior edge)")


def _check_model_train(cfg: Config, origin: str) -> None:
    """Check the ``[model]`` and ``[train]`` values that the types alone do not restrict."""
    m, t = cfg.model, cfg.train
    if m.depth not in (10, 18, 34):
        raise ConfigError(f"[model] depth = {m.depth} in {origin} must be 10, 18 or 34")
    if not m.width > 0.0:
        raise ConfigError(f"[model] width = {m.width} in {origin} must be positive")
    for key in ("stem_filters", "stem_kernel", "stem_stride", "dense_units"):
        if getattr(m, key) <= 0:
            raise ConfigError(f"[model] {key} = {getattr(m, key)} in {origin} must be positive")
    if m.stem_pool < 0 or m.stem_pool_stride <= 0:
        raise ConfigError(
            f"[model] stem_pool = {m.stem_pool} must be >= 0 and stem_pool_stride = "
            f"{m.stem_pool_stride} positive in {origin}"
        )
    if not 0.0 <= m.dropout < 1.0:
        raise ConfigError(f"[model] dropout = {m.dropout} in {origin} must be in [0, 1)")
    for key in ("phi_units", "rho_units", "event_units", "ratio_units", "exact_units"):
        if any(u <= 0 for u in getattr(m, key)):
            raise ConfigError(
                f"[model] {key} = {list(getattr(m, key))} in {origin} must be positive"
            )
    if m.event_bins < 2:
        raise ConfigError(f"[model] event_bins = {m.event_bins} in {origin} must be >= 2")
    if t.backend not in BACKENDS:
        raise ConfigError(
            f"[train] backend = {t.backend!r} in {origin} must be 'auto', 'tensorflow', 'jax' "
            "or 'torch'"
        )
    for key in ("learning_rate", "min_lr", "batch_size", "event_batch_size", "epochs",
                "steps_per_epoch", "validation_steps", "ratio_events", "ratio_block_events",
                "ratio_batch_size", "ratio_learning_rate", "ratio_reference_events",
                "exact_events", "exact_batch_size", "calibration_steps"):
        if not getattr(t, key) > 0:
            raise ConfigError(f"[train] {key} = {getattr(t, key)} in {origin} must be positive")
    if t.warm_start_epochs is not None and t.warm_start_epochs <= 0:
        raise ConfigError(f"[train] warm_start_epochs = {t.warm_start_epochs} in {origin} must "
                          "be positive (or left out: epochs)")
    if any(not p for p in t.freeze_layers):
        raise ConfigError(f"[train] freeze_layers = {list(t.freeze_layers)} in {origin} must "
                          "name layer prefixes, not empty strings")
    if t.lr_schedule == "cosine" and t.min_lr > t.learning_rate:
        raise ConfigError(f"[train] min_lr = {t.min_lr} in {origin} must not exceed "
                          f"learning_rate = {t.learning_rate} with lr_schedule = 'cosine'")
    if not 0.0 < t.reduce_lr_factor < 1.0:
        raise ConfigError(
            f"[train] reduce_lr_factor = {t.reduce_lr_factor} in {origin} must be in (0, 1)"
        )
    for key in ("reduce_lr_patience", "early_stopping_patience", "member"):
        if getattr(t, key) < 0:
            raise ConfigError(f"[train] {key} = {getattr(t, key)} in {origin} must be >= 0")
    check_names(m.ratio_params, SHIFT_NAMES, what=f"[model] ratio_params in {origin}",
                error=ConfigError)
    if not math.isfinite(t.ratio_reference):
        raise ConfigError(f"[train] ratio_reference = {t.ratio_reference} in {origin} must be "
                          "finite")
    if not 0.0 <= t.momentum < 1.0:
        raise ConfigError(f"[train] momentum = {t.momentum} in {origin} must be in [0, 1)")
    if not 0.0 < t.validation_fraction < 1.0:
        raise ConfigError(
            f"[train] validation_fraction = {t.validation_fraction} in {origin} must be in (0, 1)"
        )


def _check_generate(cfg: Config, origin: str) -> None:
    """Check the ``[generate]`` values not covered by the base checks of :func:`validate`."""
    g = cfg.generate
    if g.q2_grid_points < 16:
        raise ConfigError(
            f"[generate] q2_grid_points = {g.q2_grid_points} in {origin} must be >= 16"
        )
    for name in (*SHIFT_NAMES, "q2_min", "q2_max"):
        value = getattr(g, name)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"[generate] {name} = {value!r} in {origin} must be finite")
    for name in ("q2_min", "q2_max"):
        value = getattr(g, name)
        if value is not None and value < 0.0:
            raise ConfigError(f"[generate] {name} = {value} GeV² in {origin} must be >= 0")


def _check_fit(cfg: Config, origin: str) -> None:
    """Check the ``[fit]`` values that the types alone do not constrain."""
    f = cfg.fit
    if not f.free:
        raise ConfigError(f"[fit] free in {origin} must name at least one shift")
    for name in f.free:
        if name not in SHIFT_NAMES:
            hint = did_you_mean(name, SHIFT_NAMES)
            raise ConfigError(f"[fit] free contains unknown shift '{name}' in {origin}{hint}")
    if len(set(f.free)) != len(f.free):
        raise ConfigError(f"[fit] free = {list(f.free)} in {origin} has duplicates")
    if f.q2_min is not None and f.q2_max is not None and f.q2_min >= f.q2_max:
        raise ConfigError(
            f"[fit] q2_min = {f.q2_min} must be below q2_max = {f.q2_max} (GeV²) in {origin}"
        )
    if f.min_events < 1:
        raise ConfigError(f"[fit] min_events = {f.min_events} in {origin} must be >= 1")
    if f.strategy not in (0, 1, 2):
        raise ConfigError(f"[fit] strategy = {f.strategy} in {origin} must be 0, 1 or 2")
    if any(o < 0 for o in f.template_orders):
        raise ConfigError(f"[fit] template_orders in {origin} must be >= 0")
    if any(o < t for o, t in zip(f.template_max_orders, f.template_orders, strict=True)):
        raise ConfigError(
            f"[fit] template_max_orders {list(f.template_max_orders)} in {origin} must not be "
            f"below template_orders {list(f.template_orders)}"
        )
    if f.template_criterion not in ("none", "bic", "aic", "lrt"):
        raise ConfigError(
            f"[fit] template_criterion = {f.template_criterion!r} in {origin} must be one of "
            "none, bic, aic, lrt"
        )
    if f.efficiency_error not in ("linear", "bootstrap", "none"):
        raise ConfigError(
            f"[fit] efficiency_error = {f.efficiency_error!r} in {origin} must be one of "
            "linear, bootstrap, none"
        )
    if f.efficiency_replicas < 0 or f.efficiency_replicas == 1:
        raise ConfigError(
            f"[fit] efficiency_replicas = {f.efficiency_replicas} in {origin} must be 0 or >= 2"
        )
    if f.background_fraction is not None and not 0.0 <= f.background_fraction < 1.0:
        raise ConfigError(
            f"[fit] background_fraction = {f.background_fraction} in {origin} must be in [0, 1)"
        )
    if f.background_fraction_error is not None and f.background_fraction_error <= 0.0:
        raise ConfigError(f"[fit] background_fraction_error in {origin} must be > 0")
    if any(n < 4 for n in f.fisher_nodes):
        raise ConfigError(f"[fit] fisher_nodes = {list(f.fisher_nodes)} in {origin} must be >= 4")


#: The area checks, in the order they run after the base checks.
_SECTION_CHECKS: tuple[Callable[[Config, str], None], ...] = (
    _check_evaluate,
    check_datasets,
    check_ingest,
    _check_model_train,
    check_detector_background_selection,
    _check_generate,
    _check_fit,
)
