"""Checks of the ``[ingest]`` and ``[datasets]`` values that the types alone do not constrain.

Channel and feature names are checked against :mod:`hepc9.config.names`, so that a typo fails
before any work starts.
"""

from __future__ import annotations

import math

from hepc9.config.names import DATASET_CHANNELS, SET_FEATURES
from hepc9.config.root import Config
from hepc9.errors import ConfigError, check_names

__all__ = ["check_datasets", "check_ingest"]


def check_datasets(cfg: Config, origin: str) -> None:
    """Check the ``[datasets]`` values that the types alone do not constrain."""
    d = cfg.datasets
    if any(b <= 0 for b in d.bins):
        raise ConfigError(f"[datasets] bins = {list(d.bins)} in {origin} must be positive")
    for name in ("costheta_l_range", "costheta_k_range", "chi_range"):
        lo, hi = getattr(d, name)
        if not lo < hi:
            raise ConfigError(
                f"[datasets] {name} = [{lo}, {hi}] in {origin}: low must be below high"
            )
    check_names(d.channels, DATASET_CHANNELS, what=f"[datasets] channels in {origin}")
    if d.channels[0] not in ("q2_mean",) and "q2_mean" in d.channels:
        raise ConfigError(f"[datasets] channels in {origin}: 'q2_mean' must be channel 0")
    check_names(d.set_features, SET_FEATURES, what=f"[datasets] set_features in {origin}")
    if d.grid == "custom" and not d.labels:
        raise ConfigError(
            f"[datasets] grid = 'custom' in {origin} needs labels = [...] (δC9 values)"
        )
    if d.grid != "custom" and d.labels:
        raise ConfigError(
            f"[datasets] labels in {origin} are only used with grid = 'custom' (grid = '{d.grid}')"
        )
    if len(set(d.labels)) != len(d.labels):
        raise ConfigError(f"[datasets] labels = {list(d.labels)} in {origin} repeat a value")
    for name in ("events_per_image", "items_per_chunk", "reference_events"):
        if getattr(d, name) <= 0:
            value = getattr(d, name)
            raise ConfigError(f"[datasets] {name} = {value} in {origin} must be positive")
    for name in ("train_per_label", "validation_per_label", "test_per_label"):
        if getattr(d, name) < 0:
            raise ConfigError(f"[datasets] {name} = {getattr(d, name)} in {origin} must be >= 0")
    lo, hi = d.prior_range
    if not lo < hi:
        raise ConfigError(f"[datasets] prior_range = [{lo}, {hi}] in {origin}: low must be below "
                          "high")
    step = d.prior_step
    if not (math.isfinite(step) and 0.0 <= step <= hi - lo):
        raise ConfigError(f"[datasets] prior_step = {step} in {origin} must be 0 (continuous) or "
                          f"a positive spacing no larger than the prior range ({hi - lo:g})")
    fr = d.background_fraction_range
    if fr and (len(fr) != 2 or not 0.0 <= fr[0] < fr[1] < 1.0):
        raise ConfigError(f"[datasets] background_fraction_range = {list(fr)} in {origin} must "
                          "be [] or [low, high] with 0 <= low < high < 1")
    if d.threads < 0:
        raise ConfigError(f"[datasets] threads = {d.threads} in {origin} must be >= 0")


def check_ingest(cfg: Config, origin: str) -> None:
    """Check the ``[ingest]`` values that the types alone do not constrain."""
    ing = cfg.ingest
    if ing.step_size <= 0:
        raise ConfigError(f"[ingest] step_size = {ing.step_size} in {origin} must be positive")
    spec = ing.flavour
    if not spec:
        return
    keys = set(spec)
    if keys == {"value"}:
        if spec["value"] not in (1, -1) or isinstance(spec["value"], bool):
            raise ConfigError(
                f"[ingest] flavour.value = {spec['value']!r} in {origin} must be 1 (B0) or "
                "-1 (anti-B0)"
            )
        return
    if keys == {"column", "kind"}:
        if not isinstance(spec["column"], str) or not spec["column"]:
            raise ConfigError(f"[ingest] flavour.column in {origin} must be a branch name")
        if spec["kind"] not in ("pdg", "sign"):
            raise ConfigError(
                f"[ingest] flavour.kind = {spec['kind']!r} in {origin} must be 'pdg' or 'sign'"
            )
        return
    raise ConfigError(
        f"[ingest] flavour = {spec!r} in {origin} must be {{column = \"NAME\", kind = \"pdg\"}}, "
        f"{{column = \"NAME\", kind = \"sign\"}} or {{value = 1}}"
    )
