"""The ``evaluate`` stage: pseudo-experiment ensembles of every method, and the comparison.

Every estimator sees the same pseudo-experiments (chunks of :mod:`hepc9.pipeline.pseudo`,
regenerated from their random-stream keys) and goes through the one runner
:func:`hepc9.evaluate.ensembles.run_pseudo_experiments`: the likelihood fit on the executor of
``[scale]``, the neural estimators in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepc9.artifacts import read_json, write_json, write_text
from hepc9.datasets.labels import split_labels
from hepc9.evaluate.ensembles import EnsembleResult, run_pseudo_experiments
from hepc9.evaluate.tables import comparison_markdown, comparison_rows, sensitivity_scaling
from hepc9.models import FIT_METHOD, _backend
from hepc9.pipeline.executors import make_executor, map_chunks
from hepc9.pipeline.layout import fit_sizes, model_dir
from hepc9.pipeline.progress import progress_bar
from hepc9.pipeline.pseudo import SetChunk, chunk_specs, generate_sets, run_fit_chunk
from hepc9.pipeline.train import build_inputs
from hepc9.train import load_predictor, predict

if TYPE_CHECKING:
    from hepc9.pipeline.run import RunContext

__all__ = ["evaluation_truths", "load_ensembles", "stage_evaluate"]


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
        )
    out = ctx.path("evaluate", f"{level}_N{n_events}_{FIT_METHOD}.json")
    write_json(out, run.to_dict())
    return out


def _neural_ensembles(
    ctx: RunContext, method: str, level: str, n_events: int, truths: list[float]
) -> Path:
    """Predictions of a trained estimator on the same pseudo-experiments, in this process."""
    cfg = ctx.cfg
    _backend.select(_backend.resolve(None, cfg.train.backend))
    model, info = load_predictor(model_dir(ctx, method, level, n_events))
    specs = _chunks(ctx, level, n_events, truths)

    def estimate(spec: SetChunk) -> dict[str, np.ndarray]:
        sets = generate_sets(spec)
        joined = {k: np.concatenate([s[k] for s in sets]) for k in sets[0]}
        items, _ = build_inputs(joined, info, events_per_set=n_events)
        return predict(model, info, items)

    # every neural method of the run trains on the [datasets] grid (the event model's class
    # grid is that grid too): a truth off it is unseen, whatever the model keeps in its info
    seen = split_labels(cfg.datasets)["train"]
    with progress_bar(len(specs), desc=f"{method} {level} N={n_events}", unit="chunk",
                      enabled=ctx.show_progress) as up:
        run = run_pseudo_experiments(
            method, estimate, [(s.truth, s) for s in specs], events_per_set=n_events,
            seen_labels=seen if seen.size else None, progress=up,
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
            if FIT_METHOD in cfg.evaluate.methods:
                outs.append(_fit_ensembles(ctx, level, n_events, truths))
            if n_events not in cfg.evaluate.events_per_set:
                continue
            for method in ctx.neural:
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


def _comparison(ctx: RunContext) -> Path:
    cfg = ctx.cfg
    crb = read_json(ctx.run_dir / "crb" / "crb.json")
    ens = load_ensembles(ctx)
    tables: dict[str, Any] = {}
    md = []
    for level in cfg.evaluate.levels:
        bound = {(float(r["truth"]), int(r["events_per_set"])): float(r["sigma"])
                 for r in crb["bounds"] if r["level"] == level}
        results = [e for (lv, _, _), (e, _) in ens.items() if lv == level]
        rows = comparison_rows(results, bound, truths=cfg.evaluate.comparison_truths)
        for r in rows:
            r["level"] = level
        scaling = {}
        for method in cfg.evaluate.methods:
            for t in cfg.evaluate.comparison_truths:
                pts = [(e.events_per_set, e.at(t).std) for (lv, _, m), (e, _) in ens.items()
                       if lv == level and m == method]
                if len({n for n, _ in pts}) >= 2:
                    scaling[f"{method}@{t:+.2f}"] = sensitivity_scaling(*zip(*pts, strict=True))
        tables[level] = {"rows": rows, "sigma_vs_n": scaling}
        md.append(f"### Level `{level}`\n\n" + comparison_markdown(rows))
    out = ctx.path("evaluate", "comparison.json")
    write_json(out, tables)
    write_text(ctx.path("evaluate", "comparison.md"), "\n".join(md))
    return out
