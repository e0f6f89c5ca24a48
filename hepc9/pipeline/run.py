"""The whole study from one configuration: ``python -m hepc9 run CONFIG.toml``.

Stages, in order (each skipped on a rerun when its record in ``manifest.json`` is complete,
its inputs are unchanged and its outputs still carry the recorded digests):

``samples``   SM and BSM generator-level samples (distribution figure)
``detector``  detector response, background, signal region and sideband (if enabled)
``datasets``  image and event-set datasets for the neural estimators
``train``     one model per enabled neural method (an interrupted training resumes)
``crb``       Cramér–Rao bounds at the comparison points
``evaluate``  ensembles of pseudo-experiments for every method, level and set size
``plots``     figures (PNG + PDF)
``report``    ``report.md`` and ``summary.json``
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepc9 import __version__
from hepc9.artifacts import Manifest, folder_lock, read_json
from hepc9.config import Config
from hepc9.datasets.labels import label_grid
from hepc9.errors import ConfigError, DataError
from hepc9.models import check_method_names, model_names
from hepc9.pipeline.evaluation import stage_evaluate
from hepc9.pipeline.report import stage_plots, stage_report
from hepc9.pipeline.stages import (
    stage_crb,
    stage_datasets,
    stage_detector,
    stage_samples,
    stage_train,
)

__all__ = ["STAGES", "STAGE_ORDER", "RunContext", "Stage", "check_study", "run_study"]

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """State shared by the stages of one run.

    Attributes
    ----------
    cfg : Config
        Resolved configuration.
    run_dir : Path
        Run directory.
    manifest : Manifest
        The run's manifest.
    show_progress : bool or None
        Progress bars on/off (None: only on a terminal).
    timings : dict
        Wall time per stage in seconds (this invocation).
    """

    cfg: Config
    run_dir: Path
    manifest: Manifest
    show_progress: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        """Return ``run_dir/parts...`` with its parent folder created."""
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def neural(self) -> list[str]:
        """Enabled neural methods, in registry order."""
        return [m for m in model_names() if m in self.cfg.evaluate.methods]

    def methods_at(self, level: str) -> list[str]:
        """Return the enabled methods (fit and neural) at ``level`` (``[evaluate] det_methods``)."""
        e = self.cfg.evaluate
        if level == "det" and e.det_methods:
            return [m for m in e.methods if m in e.det_methods]
        return list(e.methods)

    def neural_at(self, level: str) -> list[str]:
        """Return the enabled neural methods at ``level``, in registry order."""
        here = self.methods_at(level)
        return [m for m in self.neural if m in here]


def _always(ctx: RunContext) -> bool:
    return True


def _detector_enabled(ctx: RunContext) -> bool:
    return bool(ctx.cfg.detector.enabled)


def _any_neural(ctx: RunContext) -> bool:
    return bool(ctx.neural)


@dataclass(frozen=True, slots=True)
class Stage:
    """One row of the stage table.

    Attributes
    ----------
    name : str
        Stage name (``--stages``, manifest record, output folder).
    run : callable
        ``run(ctx) -> list of Path``: does the work, returns the outputs it wrote.
    inputs : tuple of str
        Earlier stages whose outputs it reads (``config`` always).
    outputs : str
        What it writes, relative to the run directory.
    enabled : callable
        ``enabled(ctx) -> bool``; a disabled stage is left out.
    """

    name: str
    run: Callable[[RunContext], list[Path]]
    inputs: tuple[str, ...]
    outputs: str
    enabled: Callable[[RunContext], bool] = _always


#: The stages, in the order they run.
STAGES: tuple[Stage, ...] = (
    Stage("samples", stage_samples, (), "samples/{sm,bsm}.root"),
    Stage("detector", stage_detector, (), "detector/*.root, reports",
          _detector_enabled),
    Stage("datasets", stage_datasets, (), "datasets/<kind>_<level>_N<n>/",
          _any_neural),
    Stage("train", stage_train, ("datasets",), "models/<method>_<level>_N<n>/",
          _any_neural),
    Stage("crb", stage_crb, ("detector",), "crb/crb.json"),
    Stage("evaluate", stage_evaluate, ("detector", "train", "crb"),
          "evaluate/<level>_N<n>_<method>.json, comparison.{json,md}"),
    Stage("plots", stage_plots, ("samples", "detector", "datasets", "train",
                                        "evaluate"), "plots/*.png|pdf"),
    Stage("report", stage_report, ("evaluate", "plots"), "report.md, summary.json"),
)
#: Stage names in run order.
STAGE_ORDER: tuple[str, ...] = tuple(s.name for s in STAGES)


def _stage_digest(ctx: RunContext, stage: str) -> str:
    # every earlier stage counts as upstream (not only the declared inputs), so that a digest
    # never misses an indirect dependency
    upstream = {s: ctx.manifest.data["stages"].get(s, {}).get("outputs", {})
                for s in STAGE_ORDER[: STAGE_ORDER.index(stage)]}
    text = json.dumps({"config": ctx.cfg.digest(), "stage": stage, "upstream": upstream,
                       "hepc9": __version__}, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def check_study(cfg: Config) -> None:
    """Refuse, before any work, a study that would fail (or mislead) at a late stage.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.

    Raises
    ------
    ConfigError
        ``[generate] density`` other than ``"rate"``; ``[evaluate] methods`` empty; with
        neural methods: a label grid of fewer than two
        values, no training or validation items per label, or evaluation truths outside the
        training labels (networks do not extrapolate).
    """
    where = f"the configuration '{cfg.name}'"
    if cfg.generate.density != "rate":
        # a proposal density would make every sample of the study (training sets,
        # pseudo-experiments) follow it, not the decay rate
        raise ConfigError(f"[generate] density = {cfg.generate.density!r} in {where} would draw "
                          "the whole study from a proposal density; keep 'rate' and set "
                          "[detector] efficiency_density for the efficiency sample")
    methods = cfg.evaluate.methods
    if not methods:
        raise ConfigError(f"[evaluate] methods in {where} is empty; choose from "
                          f"fit, {', '.join(model_names())}")
    if not [m for m in model_names() if m in methods]:
        return
    d = cfg.datasets
    grid = label_grid(d.grid, d.labels)
    if grid.size < 2:
        raise ConfigError(f"[datasets] labels in {where} hold {grid.size} δC9 value; a neural "
                          "estimator needs at least two training labels")
    for key, count in (("train_per_label", d.train_per_label),
                       ("validation_per_label", d.validation_per_label)):
        if count < 1:
            raise ConfigError(f"[datasets] {key} = {count} in {where} must be >= 1 when "
                              "neural methods are evaluated")
    lo, hi = float(grid.min()), float(grid.max())
    for key, values in (("truths", cfg.evaluate.truths),
                        ("comparison_truths", cfg.evaluate.comparison_truths)):
        outside = [t for t in values if not lo <= t <= hi]
        if outside:
            raise ConfigError(
                f"[evaluate] {key} = {list(values)} in {where}: {outside} lie outside the "
                f"training labels [{lo:g}, {hi:g}]; widen [datasets] grid or drop those truths"
            )


def run_study(
    cfg: Config,
    run_dir: str | Path,
    *,
    show_progress: bool | None = None,
    stages: tuple[str, ...] | None = None,
    on_stage: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the study described by ``cfg`` in ``run_dir``.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    run_dir : str or Path
        Run directory (created; an existing one is resumed).
    show_progress : bool, optional
        Progress bars on/off (default: only on a terminal).
    stages : tuple of str, optional
        Run only these stages (default: all enabled ones).
    on_stage : callable, optional
        Called as ``on_stage(name, status)`` with status ``run``, ``skip`` or ``done``.

    Returns
    -------
    dict
        The summary written to ``summary.json``.
    """
    # [evaluate] methods name the fit or registered estimators; checked before any work
    check_method_names(cfg.evaluate.methods, origin=f"the configuration '{cfg.name}'")
    check_study(cfg)
    run = Path(run_dir).absolute()  # stage outputs are recorded relative to it
    if run.exists() and not run.is_dir():
        raise DataError(f"run folder {run} is an existing file; choose a folder for --output")
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create run folder {run} ({err.strerror or err}); choose a "
                        "writable --output") from None
    if not os.access(run, os.W_OK):
        raise DataError(f"run folder {run} is not writable; choose a writable --output")
    with folder_lock(run, what="run"):
        return _run_locked(cfg, run, show_progress=show_progress, stages=stages,
                           on_stage=on_stage)


def _run_locked(
    cfg: Config,
    run: Path,
    *,
    show_progress: bool | None,
    stages: tuple[str, ...] | None,
    on_stage: Callable[[str, str], None] | None,
) -> dict[str, Any]:
    manifest = Manifest(run, cfg.to_dict(), cfg.seed)
    manifest.data["config_digest"] = cfg.digest()
    manifest.save()
    ctx = RunContext(cfg=cfg, run_dir=run, manifest=manifest, show_progress=show_progress)
    for entry in STAGES:
        stage = entry.name
        if stages is not None and stage not in stages:
            continue
        if not entry.enabled(ctx):
            continue
        digest = _stage_digest(ctx, stage)
        if manifest.is_complete(stage, digest):
            log.info("stage %s: complete, skipped", stage)
            if on_stage:
                on_stage(stage, "skip")
            continue
        old = manifest.data["stages"].get(stage, {})
        if old.get("complete") and old.get("input_digest") == digest:
            log.warning("stage %s: its recorded outputs are missing or changed; running it "
                        "again", stage)
        if on_stage:
            on_stage(stage, "run")
        start = time.perf_counter()
        outputs = entry.run(ctx)
        seconds = time.perf_counter() - start
        ctx.timings[stage] = seconds
        manifest.record(stage, input_digest=digest, outputs=outputs, seconds=seconds)
        log.info("stage %s: done in %.1f s", stage, seconds)
        if on_stage:
            on_stage(stage, "done")
    summary_path = run / "summary.json"
    return read_json(summary_path) if summary_path.exists() else {}
