"""The stage functions of :func:`hepc9.pipeline.run.run_study`.

Each ``stage_<name>(ctx)`` reads what earlier stages wrote in the run directory, does its work
and returns the list of outputs it wrote (files or folders), which the manifest records with
their digests.  This module holds the stages that produce inputs (``samples``, ``detector``,
``datasets``, ``train``, ``crb``); ``evaluate`` lives in :mod:`hepc9.pipeline.evaluation`,
``plots`` and ``report`` in :mod:`hepc9.pipeline.report` (re-exported here).
:data:`hepc9.pipeline.run.STAGES` is the table of all of them.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepc9.artifacts import read_json, write_json
from hepc9.datasets.build import build_dataset, total_items
from hepc9.fit.fisher import cramer_rao
from hepc9.models import copy_model, get_spec
from hepc9.physics.constants import model_constants
from hepc9.pipeline.detector_sets import DETECTOR_FILES, detector_fit_options
from hepc9.pipeline.evaluation import evaluation_truths, stage_evaluate
from hepc9.pipeline.generate import generate_file
from hepc9.pipeline.layout import dataset_dir as _dataset_dir
from hepc9.pipeline.layout import fit_sizes as _fit_sizes
from hepc9.pipeline.layout import item_kind, level_config
from hepc9.pipeline.layout import model_dir as _model_dir
from hepc9.pipeline.progress import progress_bar
from hepc9.pipeline.report import stage_plots, stage_report
from hepc9.pipeline.simulate import simulate_file
from hepc9.pipeline.train import train_from_folder
from hepc9.simulation import generate_shifts, q2_window

if TYPE_CHECKING:
    from hepc9.pipeline.run import RunContext

__all__ = [
    "evaluation_truths",
    "level_config",
    "stage_crb",
    "stage_datasets",
    "stage_detector",
    "stage_evaluate",
    "stage_plots",
    "stage_report",
    "stage_samples",
    "stage_train",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------


def stage_samples(ctx: RunContext) -> list[Path]:
    """Generate the SM and BSM samples of the distributions figure."""
    cfg = ctx.cfg
    outs = []
    for i, (name, dc9) in enumerate((("sm", 0.0), ("bsm", cfg.evaluate.bsm_dc9))):
        gen = dataclasses.replace(cfg.generate, events=cfg.evaluate.distribution_events, dc9=dc9,
                                  four_vectors=False)
        sub = cfg.replace(generate=gen)
        out = ctx.path("samples", f"{name}.root")
        with progress_bar(gen.events, desc=f"samples/{name}", enabled=ctx.show_progress) as up:
            generate_file(sub, out, overwrite=True, progress=up, stream=(90, i))
        outs.append(out)
    return outs


# --------------------------------------------------------------------------------------------
# detector, datasets, training, Cramér–Rao bounds
# --------------------------------------------------------------------------------------------


def stage_detector(ctx: RunContext) -> list[Path]:
    """Simulate the detector on a generated sample: efficiency sample, signal region, sideband.

    Two passes over independent generator samples: one without background, drawn from
    ``[detector] efficiency_density``, gives the
    efficiency (acceptance) sample of the likelihood normalisation; one with the configured
    background gives the signal-region and Mbc-sideband files (sideband → background template
    and background images) and the cutflow/efficiency report.
    """
    cfg = ctx.cfg
    gen_cfg = cfg.replace(generate=dataclasses.replace(cfg.generate, four_vectors=True))
    outs = []
    gen = ctx.path(*DETECTOR_FILES["gen"].split("/"))
    with progress_bar(cfg.generate.events, desc="detector/generate",
                      enabled=ctx.show_progress) as up:
        generate_file(gen_cfg, gen, overwrite=True, progress=up, stream=(91,))
    eff_gen = ctx.path("detector", "efficiency_gen.root")
    eff_cfg = gen_cfg.replace(generate=dataclasses.replace(
        gen_cfg.generate, density=cfg.detector.efficiency_density))
    generate_file(eff_cfg, eff_gen, overwrite=True, stream=(92,))
    eff = ctx.path(*DETECTOR_FILES["efficiency"].split("/"))
    simulate_file(cfg, eff_gen, eff, background=False, overwrite=True,
                  report=ctx.path("detector", "efficiency_report.json"))
    eff_gen.unlink()
    sig = ctx.path(*DETECTOR_FILES["signal"].split("/"))
    sb = ctx.path(*DETECTOR_FILES["sideband"].split("/"))
    report = ctx.path(*DETECTOR_FILES["report"].split("/"))
    with progress_bar(cfg.generate.events, desc="detector/simulate",
                      enabled=ctx.show_progress) as up:
        simulate_file(cfg, gen, sig, sideband_output=sb, report=report, overwrite=True,
                      progress=up)
    outs += [gen, eff, ctx.path("detector", "efficiency_report.json"), sig, sb, report]
    return outs


def stage_datasets(ctx: RunContext) -> list[Path]:
    """Build the training and validation datasets of every neural method, level and set size.

    Detector-level datasets mix reconstructed signal-region signal with background at the
    configured fraction (:mod:`hepc9.datasets.build`).
    """
    cfg = ctx.cfg
    outs: list[Path] = []
    if cfg.train.stream:
        # streamed training draws fresh items (and its validation splits) from the sampler
        log.info("[train] stream = true: no stored training datasets are built")
        return outs
    for level in cfg.evaluate.levels:
        kinds = sorted({item_kind(m) for m in ctx.neural_at(level) if get_spec(m).needs_dataset})
        lcfg = level_config(cfg, level)
        for n_events in cfg.evaluate.events_per_set:
            for kind in kinds:
                sub = lcfg.replace(datasets=dataclasses.replace(cfg.datasets, kind=kind,
                                                                events_per_image=n_events))
                out = _dataset_dir(ctx, kind, level, n_events)
                splits = ("train", "validation")
                with progress_bar(total_items(sub, splits),
                                  desc=f"datasets/{kind} {level} N={n_events}", unit="item",
                                  enabled=ctx.show_progress) as up:
                    build_dataset(sub, out, overwrite=True, splits=splits, progress=up)
                outs.append(out)
    return outs


def stage_train(ctx: RunContext) -> list[Path]:
    """Train every enabled neural method per level and set size (interrupted runs resume).

    With ``[train] stream`` (default) every batch is drawn fresh from the sampler with labels
    from the ``[datasets] prior``; otherwise the stored datasets of ``stage_datasets`` are used.
    With ``[train] warm_start`` the set sizes are trained from the smallest up and a network
    of the common training loop starts from its model at the next smaller size
    (:mod:`hepc9.train.warm_start`; ``warm_start_epochs``, ``freeze_layers``).  Estimators
    with their own trainer (``ratio``, ``event_exact``) learn per-event quantities that do not
    depend on the set size: they are trained once per level and copied to the other sizes.
    """
    cfg = ctx.cfg
    outs = []
    warm = cfg.train.warm_start
    sizes = sorted(cfg.evaluate.events_per_set) if warm else list(cfg.evaluate.events_per_set)
    for level in cfg.evaluate.levels:
        # set/image networks: the model of the last size trained (a warm start's origin);
        # own trainers: the one model of this level, trained at the first size
        last_size: dict[str, Path] = {}
        per_level: dict[str, Path] = {}
        for n_events in sizes:
            for method in ctx.neural_at(level):
                out = _model_dir(ctx, method, level, n_events)
                out.parent.mkdir(parents=True, exist_ok=True)
                outs.append(out)
                own_trainer = not get_spec(method).needs_dataset
                trained = per_level.get(method) if own_trainer else None
                init = last_size.get(method) if warm and not own_trainer else None
                if own_trainer:
                    per_level.setdefault(method, out)
                else:
                    last_size[method] = out
                done = out / "train_result.json"
                if (done.exists() and read_json(done).get("run_config_digest") == cfg.digest()
                        and (out / "model.keras").is_file() and (out / "model.json").is_file()):
                    log.info("%s already trained by this run; kept", out)
                    continue
                if trained is not None:
                    log.info("%s: the %s model of %s serves this set size too", out, method,
                             trained)
                    copy_model(trained, out)
                    result = {**read_json(trained / "train_result.json"), "output": str(out),
                              "copied_from": str(trained)}
                else:
                    result = _train_one(ctx, method, level, n_events, out, init)
                write_json(done, {**result, "run_config_digest": cfg.digest()})
    return outs


def _train_one(ctx: RunContext, method: str, level: str, n_events: int, out: Path,
               init: Path | None) -> dict[str, Any]:
    """Train one model of ``stage_train`` (``init``: the model a warm start begins from)."""
    cfg = ctx.cfg
    log.info("training %s on %s-level %s-event items%s", method, level, n_events,
             f", starting from {init}" if init is not None else "")
    progress = bool(ctx.show_progress)
    # an interrupted training of this model resumes from its backup
    if not get_spec(method).needs_dataset:  # its own trainer on its level's chain
        return train_from_folder(level_config(cfg, level), None, out, model_name=method,
                                 overwrite=True, progress=progress)
    epochs = cfg.train.warm_start_epochs if init is not None else None
    if cfg.train.stream:
        sub = level_config(cfg, level).replace(datasets=dataclasses.replace(
            cfg.datasets, kind=item_kind(method), events_per_image=n_events))
        return train_from_folder(sub, None, out, model_name=method, overwrite=True,
                                 stream=True, progress=progress, init_from=init,
                                 epochs=epochs)
    return train_from_folder(cfg, _dataset_dir(ctx, item_kind(method), level, n_events), out,
                             model_name=method, overwrite=True, progress=progress,
                             init_from=init, epochs=epochs)


def stage_crb(ctx: RunContext) -> list[Path]:
    """Cramér–Rao bounds at the comparison points for every level and set size.

    With background (detector level) two bounds per point: the background fraction a free
    nuisance (``sigma_fraction_free``, the likelihood fit's situation; also ``sigma``, as
    before) and the fraction known (``sigma_fraction_fixed``, the situation of an estimator
    trained on sets with a fixed background count).  Without background both are ``None``
    and ``sigma`` is the one bound.
    """
    cfg = ctx.cfg
    constants = model_constants(cfg.physics.constants)
    g = cfg.generate

    rows = []
    for level in cfg.evaluate.levels:
        extra: dict[str, Any] = {}
        with_background = False
        if level == "det":
            opts = detector_fit_options(cfg, ctx.run_dir)
            extra = {"acceptance": opts["acceptance"]}
            if "background" in opts:
                with_background = True
                extra.update(background=opts["background"],
                             background_fraction=opts["background_fraction"])
        for t in cfg.evaluate.comparison_truths:
            at = generate_shifts(g, dc9=t)
            for n_events in _fit_sizes(ctx):
                kw = dict(at=at, params=("dc9",), q2_range=q2_window(g, constants),
                          constants=constants, **extra)
                res = cramer_rao(n_events, fraction_free=with_background, **kw)
                row = {"level": level, "truth": float(t), "events_per_set": n_events,
                       "sigma": float(res.sigma["dc9"]), "method": res.method,
                       "fisher_per_event": float(res.fisher[0][0]),
                       "sigma_fraction_free": None, "sigma_fraction_fixed": None}
                if with_background:
                    fixed = cramer_rao(n_events, fraction_free=False, **kw)
                    row.update(sigma_fraction_free=row["sigma"],
                               sigma_fraction_fixed=float(fixed.sigma["dc9"]),
                               background_fraction=float(extra["background_fraction"]))
                rows.append(row)
    out = ctx.path("crb", "crb.json")
    write_json(out, {"bounds": rows})
    return [out]
