"""The ``plots`` and ``report`` stages: figures, ``report.md`` and ``summary.json``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepc9.artifacts import read_json, write_json, write_text
from hepc9.datasets.build import dataset_spec
from hepc9.datasets.store import open_dataset
from hepc9.datasets.stream import ImageStream
from hepc9.pipeline.evaluation import load_ensembles
from hepc9.pipeline.layout import dataset_dir, item_kind, level_config, model_dir
from hepc9.rootio.native import read_events

if TYPE_CHECKING:
    from hepc9.pipeline.run import RunContext

__all__ = ["stage_plots", "stage_report"]


def _main_key(ctx: RunContext) -> tuple[str, int]:
    return ctx.cfg.evaluate.levels[0], ctx.cfg.evaluate.events_per_set[0]


def stage_plots(ctx: RunContext) -> list[Path]:
    """Draw every figure of the run into ``plots/`` (PNG and PDF)."""
    from hepc9 import plots

    cfg = ctx.cfg
    fmts = cfg.plots.formats
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        written.extend(plots.save_figure(fig, ctx.path("plots", name), formats=fmts))

    sm, _ = read_events(ctx.run_dir / "samples" / "sm.root")
    bsm, _ = read_events(ctx.run_dir / "samples" / "bsm.root")
    save(plots.plot_distributions({"SM (δC9 = 0)": sm,
                                   f"δC9 = {cfg.evaluate.bsm_dc9:+.2f}": bsm}), "distributions")
    ens = load_ensembles(ctx)
    level, n_main = _main_key(ctx)
    main = [e for (lv, n, _), (e, _) in sorted(ens.items()) if lv == level and n == n_main]
    if main:
        save(plots.plot_linearity(main, scaled=True), "linearity_scaled")
        save(plots.plot_linearity(main, scaled=False), "linearity")
        for e in main:
            save(plots.plot_prediction_histograms(e, truths=list(cfg.evaluate.comparison_truths)),
                 f"predictions_{e.method}")
    comparison = read_json(ctx.run_dir / "evaluate" / "comparison.json")
    # the networks' set sizes (the fit-only σ-versus-N sizes are in the report's table)
    rows = [r for lv in comparison.values() for r in lv["rows"]
            if r["events_per_set"] in cfg.evaluate.events_per_set]
    if any(r.get("sigma_over_crb") for r in rows):
        save(plots.plot_sigma_over_crb(rows), "sigma_over_crb")
    scan = ctx.run_dir / "evaluate" / "scan.json"
    if scan.exists():
        s = read_json(scan)
        save(plots.plot_likelihood_scan(np.array(s["values"]), np.array(s["dnll"]),
                                        truth=s["truth"]), "likelihood_scan")
    for method in ctx.neural:
        hist = model_dir(ctx, method, level, n_main) / "history.json"
        if hist.exists():
            save(plots.plot_training_history(_history_lists(read_json(hist)), title=method),
                 f"training_{method}")
    images = dataset_dir(ctx, "images", level, n_main) / "train"
    if (images / "index.json").exists():
        ds = open_dataset(images)
        save(plots.plot_image_slices(np.asarray(ds.x[0], dtype=np.float32)), "image_slices")
    elif any(item_kind(m) == "images" for m in ctx.neural):
        # streamed training stores no images: draw one as the training stream makes them
        sub = level_config(cfg, level).replace(datasets=dataclasses.replace(
            cfg.datasets, kind="images", events_per_image=n_main))
        x, _ = ImageStream(sub, dataset_spec(sub), batch_size=1, batches_per_epoch=1).batch(0, 0)
        save(plots.plot_image_slices(np.asarray(x[0], dtype=np.float32)), "image_slices")
    det = ctx.run_dir / "detector"
    if (det / "efficiency_report.json").exists():
        eff = read_json(det / "efficiency_report.json")
        save(plots.plot_efficiency(eff["efficiency"]), "efficiency")
    if (det / "signal_region.root").exists():
        cols = ["mbc", "delta_e", "is_signal"]
        sr, _ = read_events(det / "signal_region.root", columns=cols)
        sb, _ = read_events(det / "sideband.root", columns=cols)
        allc = {c: np.concatenate([sr[c], sb[c]]) for c in cols}
        sel = cfg.selection
        save(plots.plot_mbc_delta_e(allc, signal_region=(sel.mbc_signal_min, sel.delta_e_max),
                                    sideband=sel.mbc_sideband), "mbc_delta_e")
    return written


def _history_lists(history: Any) -> dict[str, list[float]]:
    """Accept a Keras-style dict of lists or a list of per-epoch records."""
    if isinstance(history, dict) and "epochs" in history:
        history = history["epochs"]
    if isinstance(history, list):
        keys = {k for rec in history for k in rec}
        return {k: [rec.get(k, np.nan) for rec in history] for k in keys}
    return dict(history)


def stage_report(ctx: RunContext) -> list[Path]:
    """Write ``report.md`` and ``summary.json``."""
    cfg = ctx.cfg
    comparison = read_json(ctx.run_dir / "evaluate" / "comparison.json")
    ens = load_ensembles(ctx)
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
        "slope is the response slope of the linearity fit (mean versus truth over all "
        "evaluated truths) and σ/slope the resolution it implies; the headline ratio "
        "(σ/slope)/σ_CRB uses the Cramér–Rao bound matched to what the estimator is given "
        "(`bound`: background fraction fixed or free). Errors are statistical. Coverage: "
        "fraction of the stored 68 % intervals (the fit's MINOS/HESSE interval, a network's "
        "posterior quantiles; n/a when it reports none) and of the held-out Neyman intervals "
        "containing the truth, ± binomial error.",
        "",
    ]
    lines.append((ctx.run_dir / "evaluate" / "comparison.md").read_text(encoding="utf-8"))
    lines += ["", "## Linearity (mean prediction versus true δC9, all true values)", "",
              "| level | N/set | method | slope | intercept | χ²/ndf | coverage (stored) "
              "| coverage (Neyman) |",
              "| :--- | ---: | :--- | ---: | ---: | ---: | ---: | ---: |"]
    summary_methods: dict[str, Any] = {}
    for (level, n, method), (e, raw) in sorted(ens.items()):
        lin = e.linearity
        cov = f"{np.mean(e.coverage):.3f}" if e.coverage is not None else "n/a"
        ney = f"{np.mean(e.neyman_coverage):.3f}" if e.neyman_coverage is not None else "n/a"
        if lin is not None:
            lines.append(f"| {level} | {n} | {method} | {lin.slope:.3f} ± {lin.slope_err:.3f} | "
                         f"{lin.intercept:+.3f} ± {lin.intercept_err:.3f} | "
                         f"{lin.chi2:.1f}/{lin.ndof} | {cov} | {ney} |")
        summary_methods[f"{level}/N{n}/{method}"] = {
            "linearity": lin.to_dict() if lin else None,
            "coverage": float(np.mean(e.coverage)) if e.coverage is not None else None,
            "neyman_coverage": (float(np.mean(e.neyman_coverage))
                                if e.neyman_coverage is not None else None),
            "prior": list(e.prior) if e.prior is not None else None,
            "fraction": e.fraction,
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
