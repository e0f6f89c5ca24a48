"""The stage functions of :func:`hepc9.pipeline.run.run_study`.

Each ``stage_<name>(ctx)`` reads what earlier stages wrote in the run directory, does its work
and returns the list of outputs it wrote (files or folders), which the manifest records with
their digests.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepc9.artifacts import read_json, write_json, write_text
from hepc9.pipeline.progress import progress_bar

if TYPE_CHECKING:
    from hepc9.pipeline.run import RunContext

__all__ = [
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
    from hepc9.pipeline.generate import generate_file

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
# evaluation
# --------------------------------------------------------------------------------------------


def evaluation_truths(ctx: RunContext) -> list[float]:
    """True δC9 values of the pseudo-experiments (config, else the dataset's test labels)."""
    cfg = ctx.cfg
    truths = list(cfg.evaluate.truths)
    if not truths:
        from hepc9.datasets.build import label_grid

        train, test = label_grid(cfg.datasets)
        truths = list(test)
    for t in cfg.evaluate.comparison_truths:
        if not any(abs(t - u) < 1e-9 for u in truths):
            truths.append(float(t))
    return sorted(float(t) for t in truths)


def _fit_ensembles(ctx: RunContext, level: str, n_events: int, truths: list[float]) -> Path:
    from hepc9.evaluate.ensembles import summarise_ensemble
    from hepc9.pipeline.executors import make_executor, map_chunks
    from hepc9.pipeline.pseudo import chunk_specs, run_fit_chunk

    cfg = ctx.cfg
    specs = chunk_specs(cfg, level=level, n_events=n_events, truths=truths,
                        n_sets=cfg.evaluate.sets_per_truth)
    with progress_bar(len(specs), desc=f"fit {level} N={n_events}", unit="chunk",
                      enabled=ctx.show_progress) as up, make_executor(cfg.scale) as ex:
        results = map_chunks(run_fit_chunk, specs, ex, progress=up)
    values: dict[float, list[float]] = {t: [] for t in truths}
    lower: dict[float, list[float]] = {t: [] for t in truths}
    upper: dict[float, list[float]] = {t: [] for t in truths}
    errors: dict[float, list[float]] = {t: [] for t in truths}
    n_invalid = 0
    for spec, res in zip(specs, results, strict=True):
        values[spec.truth] += res["value"]
        lower[spec.truth] += res["lower"]
        upper[spec.truth] += res["upper"]
        errors[spec.truth] += res["error"]
        n_invalid += int(len(res["valid"]) - sum(res["valid"]))
    ens = summarise_ensemble(
        "fit", {t: np.array(v) for t, v in values.items()}, events_per_set=n_events,
        intervals={t: (np.array(lower[t]), np.array(upper[t])) for t in truths},
    )
    pulls = {}
    for t in truths:
        v, e = np.array(values[t]), np.array(errors[t])
        p = (v - t) / e
        pulls[repr(t)] = {"mean": float(p.mean()), "width": float(p.std(ddof=1))}
    out = ctx.path("evaluate", f"{level}_N{n_events}_fit.json")
    write_json(out, {**ens.to_dict(), "pulls": pulls, "invalid_fits": n_invalid})
    return out


def stage_evaluate(ctx: RunContext) -> list[Path]:
    """Ensembles of pseudo-experiments for every method, level and set size."""
    cfg = ctx.cfg
    truths = evaluation_truths(ctx)
    outs = []
    for level in cfg.evaluate.levels:
        for n_events in cfg.evaluate.events_per_set:
            if "fit" in cfg.evaluate.methods:
                outs.append(_fit_ensembles(ctx, level, n_events, truths))
            for method in ctx.neural:
                outs.append(_neural_ensembles(ctx, method, level, n_events, truths))
    outs.append(_comparison(ctx))
    return outs


def _load_ensembles(ctx: RunContext) -> dict[tuple[str, int, str], Any]:
    from hepc9.evaluate.ensembles import EnsembleResult

    out = {}
    for p in sorted((ctx.run_dir / "evaluate").glob("*_N*_*.json")):
        level, n, method = p.stem.split("_", 2)
        d = read_json(p)
        out[(level, int(n[1:]), method)] = (EnsembleResult.from_dict(d), d)
    return out


def _comparison(ctx: RunContext) -> Path:
    from hepc9.evaluate.tables import comparison_markdown, comparison_rows, sensitivity_scaling

    cfg = ctx.cfg
    crb = read_json(ctx.run_dir / "crb" / "crb.json")
    ens = _load_ensembles(ctx)
    tables: dict[str, Any] = {}
    md = []
    for level in cfg.evaluate.levels:
        bound = {(float(r["truth"]), int(r["events_per_set"])): float(r["sigma"])
                 for r in crb["bounds"] if r["level"] == level}
        results = [e for (lv, _, _), (e, _) in ens.items() if lv == level]
        rows = comparison_rows(results, bound, truths=cfg.evaluate.comparison_truths)
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


# --------------------------------------------------------------------------------------------
# plots and report
# --------------------------------------------------------------------------------------------


def _main_key(ctx: RunContext) -> tuple[str, int]:
    return ctx.cfg.evaluate.levels[0], ctx.cfg.evaluate.events_per_set[0]


def stage_plots(ctx: RunContext) -> list[Path]:
    """Draw every figure of the run into ``plots/`` (PNG and PDF)."""
    from hepc9 import plots
    from hepc9.rootio.native import read_events

    cfg = ctx.cfg
    fmts = cfg.plots.formats
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        written.extend(plots.save_figure(fig, ctx.path("plots", name), formats=fmts))

    sm, _ = read_events(ctx.run_dir / "samples" / "sm.root")
    bsm, _ = read_events(ctx.run_dir / "samples" / "bsm.root")
    save(plots.plot_distributions({"SM (δC9 = 0)": sm,
                                   f"δC9 = {cfg.evaluate.bsm_dc9:+.2f}": bsm}), "distributions")
    ens = _load_ensembles(ctx)
    level, n_main = _main_key(ctx)
    main = [e for (lv, n, _), (e, _) in sorted(ens.items()) if lv == level and n == n_main]
    if main:
        save(plots.plot_linearity(main, scaled=True), "linearity_scaled")
        save(plots.plot_linearity(main, scaled=False), "linearity")
        for e in main:
            save(plots.plot_prediction_histograms(e, truths=list(cfg.evaluate.comparison_truths)),
                 f"predictions_{e.method}")
    comparison = read_json(ctx.run_dir / "evaluate" / "comparison.json")
    rows = [r for lv in comparison.values() for r in lv["rows"]]
    if any(r.get("sigma_over_crb") for r in rows):
        save(plots.plot_sigma_over_crb(rows), "sigma_over_crb")
    scan = ctx.run_dir / "evaluate" / "scan.json"
    if scan.exists():
        s = read_json(scan)
        save(plots.plot_likelihood_scan(np.array(s["values"]), np.array(s["dnll"]),
                                        truth=s["truth"]), "likelihood_scan")
    for method in ctx.neural:
        hist = ctx.run_dir / "models" / method / "history.json"
        if hist.exists():
            save(plots.plot_training_history(read_json(hist), title=method), f"training_{method}")
    images = ctx.run_dir / "datasets" / "images"
    if (images / "index.json").exists():
        from hepc9.datasets.store import open_dataset

        ds = open_dataset(images)
        save(plots.plot_image_slices(np.asarray(ds.x[0], dtype=np.float32)), "image_slices")
    det = ctx.run_dir / "detector"
    if (det / "efficiency.json").exists():
        eff = read_json(det / "efficiency.json")
        save(plots.plot_efficiency(eff["efficiency"] if "efficiency" in eff else eff),
             "efficiency")
    if (det / "all.root").exists():
        allc, _ = read_events(det / "all.root", columns=["mbc", "delta_e", "is_signal"])
        sel = cfg.selection
        save(plots.plot_mbc_delta_e(allc, signal_region=(sel.mbc_signal_min, sel.delta_e_max),
                                    sideband=sel.mbc_sideband), "mbc_delta_e")
    return written


def _fmt(x: Any, spec: str = ".4f") -> str:
    return "–" if x is None else format(x, spec)


def stage_report(ctx: RunContext) -> list[Path]:
    """Write ``report.md`` and ``summary.json``."""
    cfg = ctx.cfg
    comparison = read_json(ctx.run_dir / "evaluate" / "comparison.json")
    ens = _load_ensembles(ctx)
    stages = ctx.manifest.data["stages"]
    lines = [
        f"# hepc9 run `{cfg.name}`",
        "",
        f"Configuration digest `{cfg.digest()}`, seed {cfg.seed}. Methods: "
        f"{', '.join(cfg.evaluate.methods)}; levels: {', '.join(cfg.evaluate.levels)}; "
        f"{cfg.evaluate.sets_per_truth} pseudo-experiments per true value.",
        "",
        "## Comparison with the Cramér–Rao bound",
        "",
        "σ is the standard deviation of the estimates over independent pseudo-experiments; "
        "σL = μ − q16, σR = q84 − μ.",
        "",
    ]
    lines.append((ctx.run_dir / "evaluate" / "comparison.md").read_text(encoding="utf-8"))
    lines += ["", "## Linearity (mean prediction versus true δC9, all true values)", "",
              "| level | N/set | method | slope | intercept | χ²/ndf | fit coverage |",
              "| :--- | ---: | :--- | ---: | ---: | ---: | ---: |"]
    summary_methods: dict[str, Any] = {}
    for (level, n, method), (e, raw) in sorted(ens.items()):
        lin = e.linearity
        cov = "–"
        if e.coverage is not None:
            cov = f"{np.mean(e.coverage):.3f}"
        if lin is not None:
            lines.append(f"| {level} | {n} | {method} | {lin.slope:.3f} ± {lin.slope_err:.3f} | "
                         f"{lin.intercept:+.3f} ± {lin.intercept_err:.3f} | "
                         f"{lin.chi2:.1f}/{lin.ndof} | {cov} |")
        summary_methods[f"{level}/N{n}/{method}"] = {
            "linearity": lin.to_dict() if lin else None,
            "coverage": float(np.mean(e.coverage)) if e.coverage is not None else None,
            "points": [p.to_dict() for p in e.points],
            **({"pulls": raw["pulls"]} if "pulls" in raw else {}),
        }
    scaling = {lv: v["sigma_vs_n"] for lv, v in comparison.items()}
    if any(scaling.values()):
        lines += ["", "## σ versus events per set (σ ∝ N^−α; α = 0.5 is ideal)", ""]
        for lv, d in scaling.items():
            for key, val in d.items():
                lines.append(f"- `{lv}` {key}: α = {val['alpha']:.3f}")
    lines += ["", "## Stage timings", "", "| stage | seconds |", "| :--- | ---: |"]
    for name, rec in stages.items():
        lines.append(f"| {name} | {rec.get('seconds', 0):.1f} |")
    figs = sorted((ctx.run_dir / "plots").glob("*.png")) if (ctx.run_dir / "plots").exists() \
        else []
    if figs:
        lines += ["", "## Figures", ""]
        lines += [f"![{f.stem}](plots/{f.name})" for f in figs]
    report = ctx.path("report.md")
    write_text(report, "\n".join(lines) + "\n")
    summary = {
        "name": cfg.name,
        "config_digest": cfg.digest(),
        "seed": cfg.seed,
        "comparison": comparison,
        "methods": summary_methods,
        "timings": {k: v.get("seconds") for k, v in stages.items()},
    }
    out = ctx.path("summary.json")
    write_json(out, summary)
    return [report, out]
