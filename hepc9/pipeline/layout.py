"""Where the stages of a run keep their outputs, and which estimator reads which dataset.

Shared by the stage modules (:mod:`hepc9.pipeline.stages`, :mod:`hepc9.pipeline.evaluation`,
:mod:`hepc9.pipeline.report`), so that a folder name is written down once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from hepc9.models import get_spec

if TYPE_CHECKING:
    from hepc9.pipeline.run import RunContext

__all__ = ["dataset_dir", "fit_sizes", "item_kind", "level_config", "model_dir"]


def item_kind(method: str) -> Literal["images", "sets"]:
    """Dataset kind (``images`` or ``sets``) that the registered estimator ``method`` reads."""
    return cast(Literal["images", "sets"], get_spec(method).item_kind)  # checked by the spec


def dataset_dir(ctx: RunContext, kind: str, level: str, n_events: int) -> Path:
    """Folder of the ``kind`` datasets of one level and set size."""
    return ctx.run_dir / "datasets" / f"{kind}_{level}_N{n_events}"


def model_dir(ctx: RunContext, method: str, level: str, n_events: int) -> Path:
    """Folder of the trained model of one method, level and set size."""
    return ctx.run_dir / "models" / f"{method}_{level}_N{n_events}"


def fit_sizes(ctx: RunContext) -> list[int]:
    """Set sizes of the fit ensembles: the main ones, then the σ-versus-N extras."""
    e = ctx.cfg.evaluate
    extra = [n for n in e.fit_scaling_events if n not in e.events_per_set]
    return list(e.events_per_set) + sorted(set(extra))


def level_config(cfg: Any, level: str) -> Any:
    """Return the configuration of one level: ``gen`` switches detector and background off."""
    if level == "det":
        return cfg
    return cfg.replace(detector=dataclasses.replace(cfg.detector, enabled=False),
                       background=dataclasses.replace(cfg.background, enabled=False))
