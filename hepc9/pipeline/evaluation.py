"""The ``evaluate`` stage: pseudo-experiment ensembles of every method, and the comparison.

Every estimator sees the same pseudo-experiments (chunks of :mod:`hepc9.pipeline.pseudo`,
regenerated from their random-stream keys) and goes through the one runner
:func:`hepc9.evaluate.ensembles.run_pseudo_experiments`: the likelihood fit on the executor of
``[scale]``, the neural estimators in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hepc9.artifacts import read_json, write_json, write_text
from hepc9.datasets.labels import split_labels
from hepc9.evaluate.ensembles import EnsembleResult, run_pseudo_experiments
from hepc9.evaluate.tables import (
    comparison_markdown,
    comparison_rows,
    readme_markdown,
    sensitivity_scaling,
)
from hepc9.models import FIT_METHOD, _backend
from hepc9.pipeline.executors import make_executor, map_chunks
from hepc9.pipeline.layout import fit_sizes, model_dir
from hepc9.pipeline.progress import progress_bar
from hepc9.pipeline.pseudo import SetChunk, chunk_specs, generate_sets, run_fit_chunk
from hepc9.pipeline.train import build_inputs
from hepc9.train import load_predictor, predict

if TYPE_CHECKING:
    from hepc9.pipeline.run import RunContext

__all__ = ["estimator_context", "evaluation_truths", "load_ensembles", "seen_rule",
           "stage_evaluate"]


def evaluation_truths(ctx: RunContext) -> list[float]:
    """Return the true δC9 values of the pseudo-experiments.

    ``[evaluate] truths`` when given, else the test labels of ``[datasets]`` (the training
    grid plus the values between its points); the comparison points are always included.
    """
    cfg = ctx.cfg
    truths = [float(t) for t in cfg.evaluate.truths]
    if not truths:
        truths = [float(t) for t in split_labels(cfg.datasets)["test"]]
    for t in cfg.evaluate.comparison_truths:
        if not any(abs(t - u) < 1e-9 for u in truths):
            truths.append(float(t))
    return sorted(float(t) for t in truths)


def _with_background(ctx: RunContext, level: str) -> bool:
    bkg = ctx.cfg.background
    return level == "det" and bool(bkg.enabled) and bkg.fraction > 0


def _span(values: Any) -> tuple[float, float] | None:
    v = np.asarray(values if values is not None else [], dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max())) if v.size and v.min() < v.max() else None


def _recorded_prior(info: dict[str, Any]) -> tuple[float, float] | None:
    """Return the continuous label prior a model records (``labels.prior``), else None."""
    prior_d = (info.get("labels") or {}).get("prior")
    if isinstance(prior_d, dict):
        return _span([prior_d.get("low"), prior_d.get("high")])
    return _span(prior_d) if prior_d is not None else None


def seen_rule(info: dict[str, Any], datasets: Any) -> dict[str, Any]:
    """Return what "seen in training" means for a trained estimator (runner keywords).

    Parameters
    ----------
    info : dict
        The model's ``model.json``.
    datasets : DatasetsConfig
        The run's ``[datasets]`` section.

    Returns
    -------
    dict
        ``{"seen_range": (low, high)}`` when the estimator was trained on labels drawn from a
        continuous prior (``labels.prior`` in its info, as streamed training with
        ``[datasets] prior = "uniform"`` records it): a truth inside that range is seen.
        Otherwise ``{"seen_labels": grid}`` with the training labels of the ``[datasets]``
        grid (the stored builds', and the event model's class grid): a truth off it is
        unseen; ``{}`` when that grid is empty.
    """
    span = _recorded_prior(info)
    if span is not None:
        return {"seen_range": span}
    grid = split_labels(datasets)["train"]
    return {"seen_labels": grid} if grid.size else {}


def estimator_context(
    info: dict[str, Any], *, with_background: bool
) -> tuple[tuple[float, float] | None, Literal["fixed", "free"] | None]:
    """Training prior and background-fraction mode of a trained estimator, from ``model.json``.

    Parameters
    ----------
    info : dict
        The model's ``model.json``.  Read: ``labels.prior`` (``{"low": .., "high": ..}`` or
        ``[low, high]``), else the range of ``labels.grid``, else of the training labels
        ``dataset_index.labels``; ``training.background_fraction`` (``"fixed"``, ``"varied"``
        in training, or ``"free"``: fitted per set by the estimator).
    with_background : bool
        Whether the estimator's sets carry background (detector level).

    Returns
    -------
    prior : (float, float) or None
        δC9 range of the training prior (None when the file records none).
    fraction : {"fixed", "free"} or None
        ``"free"`` when the fraction was varied in training, else ``"fixed"`` (the training
        sets carry a fixed background count); None without background.
    """
    labels = info.get("labels") or {}
    prior = _recorded_prior(info)
    if prior is None:
        prior = _span(labels.get("grid")) or _span((info.get("dataset_index") or {})
                                                  .get("labels"))
    fraction: Literal["fixed", "free"] | None = None
    if with_background:
        mode = (info.get("training") or {}).get("background_fraction", "fixed")
        # varied in training, or fitted per set by the estimator: compare with the free bound
        fraction = "free" if mode in ("varied", "free") else "fixed"
    return prior, fraction


def _chunks(ctx: RunContext, level: str, n_events: int, truths: list[float]) -> list[SetChunk]:
    cfg = ctx.cfg
    return chunk_specs(cfg, level=level, n_events=n_events, truths=truths,
                       n_sets=cfg.evaluate.sets_per_truth, run_dir=str(ctx.run_dir))


def _fit_ensembles(ctx: RunContext, level: str, n_events: int, truths: list[float]) -> Path:
    """Likelihood fits of every pseudo-experiment, chunks on the ``[scale]`` executor."""
    specs = _chunks(ctx, level, n_events, truths)
    with progress_bar(len(specs), desc=f"fit {level} N={n_events}", unit="chunk",
                      enabled=ctx.show_progress) as up, make_executor(ctx.cfg.scale) as ex:
        run = run_pseudo_experiments(
            FIT_METHOD, run_fit_chunk, [(s.truth, s) for s in specs], events_per_set=n_events,
            mapper=lambda fn, items: map_chunks(fn, items, ex, progress=up),
            fraction="free" if _with_background(ctx, level) else None,
        )
    out = ctx.path("evaluate", f"{level}_N{n_events}_{FIT_METHOD}.json")
    write_json(out, run.to_dict())
    return out


def _neural_ensembles(
    ctx: RunContext, method: str, level: str, n_events: int, truths: list[float]
) -> Path:
    """Predictions of a trained estimator on the same pseudo-experiments, in this process."""
    cfg = ctx.cfg
    _backend.select(cfg.train.backend)
    model, info = load_predictor(model_dir(ctx, method, level, n_events))
    specs = _chunks(ctx, level, n_events, truths)

    def estimate(spec: SetChunk) -> dict[str, np.ndarray]:
        sets = generate_sets(spec)
        joined = {k: np.concatenate([s[k] for s in sets]) for k in sets[0]}
        items, _ = build_inputs(joined, info, events_per_set=n_events)
        return predict(model, info, items)

    prior, fraction = estimator_context(info, with_background=_with_background(ctx, level))
    with progress_bar(len(specs), desc=f"{method} {level} N={n_events}", unit="chunk",
                      enabled=ctx.show_progress) as up:
        run = run_pseudo_experiments(
            method, estimate, [(s.truth, s) for s in specs], events_per_set=n_events,
            **seen_rule(info, cfg.datasets), progress=up, prior=prior, fraction=fraction,
        )
    out = ctx.path("evaluate", f"{level}_N{n_events}_{method}.json")
    write_json(out, run.to_dict())
    return out


def stage_evaluate(ctx: RunContext) -> list[Path]:
    """Ensembles of pseudo-experiments for every method, level and set size."""
    cfg = ctx.cfg
    truths = evaluation_truths(ctx)
    outs = []
    for level in cfg.evaluate.levels:
        for n_events in fit_sizes(ctx):
            if FIT_METHOD in ctx.methods_at(level):
                outs.append(_fit_ensembles(ctx, level, n_events, truths))
            if n_events not in cfg.evaluate.events_per_set:
                continue
            for method in ctx.neural_at(level):
                outs.append(_neural_ensembles(ctx, method, level, n_events, truths))
    outs.append(_comparison(ctx))
    return outs


def load_ensembles(ctx: RunContext) -> dict[tuple[str, int, str], Any]:
    """Read every ensemble of the run: ``(level, N, method)`` → (EnsembleResult, raw dict)."""
    out = {}
    for p in sorted((ctx.run_dir / "evaluate").glob("*_N*_*.json")):
        level, n, method = p.stem.split("_", 2)
        d = read_json(p)
        out[(level, int(n[1:]), method)] = (EnsembleResult.from_dict(d), d)
    return out


def _bounds(crb: dict[str, Any], level: str) -> tuple[dict[Any, float], dict[str, Any] | None]:
    """Return the level's default bound and, with background, the bounds per fraction mode."""
    rows = [r for r in crb["bounds"] if r["level"] == level]
    default = {(float(r["truth"]), int(r["events_per_set"])): float(r["sigma"]) for r in rows}
    by_mode: dict[str, dict[Any, float]] = {"free": {}, "fixed": {}}
    for r in rows:
        for mode in by_mode:
            v = r.get(f"sigma_fraction_{mode}")
            if v is not None:
                by_mode[mode][(float(r["truth"]), int(r["events_per_set"]))] = float(v)
    return default, (by_mode if any(by_mode.values()) else None)


def _comparison(ctx: RunContext) -> Path:
    cfg = ctx.cfg
    crb = read_json(ctx.run_dir / "crb" / "crb.json")
    ens = load_ensembles(ctx)
    tables: dict[str, Any] = {}
    md, all_rows = [], []
    for level in cfg.evaluate.levels:
        default, by_mode = _bounds(crb, level)
        results = [e for (lv, _, _), (e, _) in ens.items() if lv == level]
        rows = comparison_rows(results, default, truths=cfg.evaluate.comparison_truths,
                               bounds=by_mode, interval_kind=cfg.evaluate.intervals,
                               edge_sigmas=cfg.evaluate.prior_margin)
        for r in rows:
            r["level"] = level
        all_rows += rows
        scaling = {}
        for method in ctx.methods_at(level):
            for t in cfg.evaluate.comparison_truths:
                pts = [(e.events_per_set, e.at(t).std) for (lv, _, m), (e, _) in ens.items()
                       if lv == level and m == method]
                if len({n for n, _ in pts}) >= 2:
                    scaling[f"{method}@{t:+.2f}"] = sensitivity_scaling(*zip(*pts, strict=True))
        tables[level] = {"rows": rows, "sigma_vs_n": scaling}
        md.append(f"### Level `{level}`\n\n"
                  + comparison_markdown(rows, margin=cfg.evaluate.prior_margin))
    out = ctx.path("evaluate", "comparison.json")
    write_json(out, tables)
    write_text(ctx.path("evaluate", "comparison.md"), "\n".join(md))
    write_text(ctx.path("evaluate", "comparison_readme.md"), readme_markdown(all_rows))
    return out
