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
# detector, datasets, training, Cramér–Rao bounds
# --------------------------------------------------------------------------------------------


def stage_detector(ctx: RunContext) -> list[Path]:
    """Simulate the detector on a generated sample: efficiency sample, signal region, sideband.

    Two passes over independent generator samples: one without background gives the
    efficiency (acceptance) sample of the likelihood normalisation; one with the configured
    background gives the signal-region and Mbc-sideband files (sideband → background template
    and background images) and the cutflow/efficiency report.
    """
    from hepc9.pipeline.detector_sets import DETECTOR_FILES
    from hepc9.pipeline.generate import generate_file
    from hepc9.pipeline.simulate import simulate_file

    cfg = ctx.cfg
    gen_cfg = cfg.replace(generate=dataclasses.replace(cfg.generate, four_vectors=True))
    outs = []
    gen = ctx.path(*DETECTOR_FILES["gen"].split("/"))
    with progress_bar(cfg.generate.events, desc="detector/generate",
                      enabled=ctx.show_progress) as up:
        generate_file(gen_cfg, gen, overwrite=True, progress=up, stream=(91,))
    eff_gen = ctx.path("detector", "efficiency_gen.root")
    generate_file(gen_cfg, eff_gen, overwrite=True, stream=(92,))
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


def _dataset_dir(ctx: RunContext, kind: str, level: str, n_events: int) -> Path:
    return ctx.run_dir / "datasets" / f"{kind}_{level}_N{n_events}"


def _kind(method: str) -> str:
    return "images" if method == "resnet3d" else "sets"


def level_config(cfg: Any, level: str) -> Any:
    """Return the configuration of one level: ``gen`` switches detector and background off."""
    if level == "det":
        return cfg
    return cfg.replace(detector=dataclasses.replace(cfg.detector, enabled=False),
                       background=dataclasses.replace(cfg.background, enabled=False))


def stage_datasets(ctx: RunContext) -> list[Path]:
    """Build the training and validation datasets of every neural method, level and set size.

    Detector-level datasets mix reconstructed signal-region signal with background at the
    configured fraction (:mod:`hepc9.datasets.build`).
    """
    from hepc9.datasets.build import build_dataset, total_items

    cfg = ctx.cfg
    outs = []
    kinds = sorted({_kind(m) for m in ctx.neural})
    for level in cfg.evaluate.levels:
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


def _model_dir(ctx: RunContext, method: str, level: str, n_events: int) -> Path:
    return ctx.run_dir / "models" / f"{method}_{level}_N{n_events}"


def stage_train(ctx: RunContext) -> list[Path]:
    """Train every enabled neural method per level and set size (interrupted runs resume)."""
    from hepc9.pipeline.train import train_from_folder

    cfg = ctx.cfg
    outs = []
    for level in cfg.evaluate.levels:
        for n_events in cfg.evaluate.events_per_set:
            for method in ctx.neural:
                out = _model_dir(ctx, method, level, n_events)
                out.parent.mkdir(parents=True, exist_ok=True)
                outs.append(out)
                done = out / "train_result.json"
                if done.exists() and read_json(done).get("run_config_digest") == cfg.digest():
                    log.info("%s already trained by this run; kept", out)
                    continue
                log.info("training %s on %s-level %s-event items", method, level, n_events)
                # an interrupted training of this model resumes from its backup
                result = train_from_folder(
                    cfg, _dataset_dir(ctx, _kind(method), level, n_events), out,
                    model_name=method, overwrite=True, progress=bool(ctx.show_progress),
                )
                write_json(done, {**result, "run_config_digest": cfg.digest()})
    return outs


def _fit_sizes(ctx: RunContext) -> list[int]:
    """Set sizes of the fit ensembles: the main ones, then the σ-versus-N extras."""
    e = ctx.cfg.evaluate
    extra = [n for n in e.fit_scaling_events if n not in e.events_per_set]
    return list(e.events_per_set) + sorted(set(extra))


def stage_crb(ctx: RunContext) -> list[Path]:
    """Cramér–Rao bounds at the comparison points for every level and set size."""
    from hepc9.fit.fisher import cramer_rao
    from hepc9.physics.constants import model_constants
    from hepc9.simulation import generate_shifts

    cfg = ctx.cfg
    constants = model_constants(cfg.physics.constants)
    g = cfg.generate
    from hepc9.pipeline.pseudo import _window

    rows = []
    for level in cfg.evaluate.levels:
        extra: dict[str, Any] = {}
        if level == "det":
            from hepc9.pipeline.detector_sets import detector_fit_options

            opts = detector_fit_options(cfg, ctx.run_dir)
            extra = {"acceptance": opts["acceptance"]}
            if "background" in opts:
                # the fit frees the background fraction, so the bound treats it as a nuisance
                extra.update(background=opts["background"],
                             background_fraction=opts["background_fraction"],
                             fraction_free=True)
        for t in cfg.evaluate.comparison_truths:
            at = generate_shifts(g, dc9=t)
            for n_events in _fit_sizes(ctx):
                res = cramer_rao(n_events, at=at, params=("dc9",), q2_range=_window(cfg),
                                 constants=constants, **extra)
                rows.append({"level": level, "truth": float(t), "events_per_set": n_events,
                             "sigma": float(res.sigma["dc9"]), "method": res.method,
                             "fisher_per_event": float(res.fisher[0][0])})
    out = ctx.path("crb", "crb.json")
    write_json(out, {"bounds": rows})
    return [out]


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


def evaluation_truths(ctx: RunContext) -> list[float]:
    """Return the true δC9 values of the pseudo-experiments.

    ``[evaluate] truths`` when given, else the test labels of ``[datasets]`` (the training
    grid plus the values between its points); the comparison points are always included.
    """
    cfg = ctx.cfg
    truths = [float(t) for t in cfg.evaluate.truths]
    if not truths:
        from hepc9.datasets.labels import split_labels

        truths = [float(t) for t in split_labels(cfg.datasets)["test"]]
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
                        n_sets=cfg.evaluate.sets_per_truth, run_dir=str(ctx.run_dir))
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


def _neural_ensembles(
    ctx: RunContext, method: str, level: str, n_events: int, truths: list[float]
) -> Path:
    from hepc9.evaluate.ensembles import summarise_ensemble
    from hepc9.models import _backend
    from hepc9.pipeline.pseudo import chunk_specs, generate_sets
    from hepc9.pipeline.train import build_inputs

    cfg = ctx.cfg
    _backend.select(_backend.resolve(None, cfg.train.backend))
    from hepc9.train import load_predictor, predict

    model, info = load_predictor(_model_dir(ctx, method, level, n_events))
    specs = chunk_specs(cfg, level=level, n_events=n_events, truths=truths,
                        n_sets=cfg.evaluate.sets_per_truth, run_dir=str(ctx.run_dir))
    values: dict[float, list[np.ndarray]] = {t: [] for t in truths}
    lower: dict[float, list[np.ndarray]] = {t: [] for t in truths}
    upper: dict[float, list[np.ndarray]] = {t: [] for t in truths}
    with progress_bar(len(specs), desc=f"{method} {level} N={n_events}", unit="chunk",
                      enabled=ctx.show_progress) as up:
        for i, spec in enumerate(specs):
            sets = generate_sets(spec, cfg)
            joined = {k: np.concatenate([s[k] for s in sets]) for k in sets[0]}
            items, _ = build_inputs(joined, info, events_per_set=n_events)
            pred = predict(model, info, items)
            values[spec.truth].append(pred["dc9"])
            if "lower" in pred:
                lower[spec.truth].append(pred["lower"])
                upper[spec.truth].append(pred["upper"])
            up(i + 1)
    intervals = None
    if all(lower[t] for t in truths):
        intervals = {t: (np.concatenate(lower[t]), np.concatenate(upper[t])) for t in truths}
    seen = np.asarray(info.get("labels", {}).get("grid", []), dtype=np.float64)
    ens = summarise_ensemble(method, {t: np.concatenate(v) for t, v in values.items()},
                             events_per_set=n_events,
                             seen_labels=seen if seen.size else None, intervals=intervals)
    out = ctx.path("evaluate", f"{level}_N{n_events}_{method}.json")
    write_json(out, ens.to_dict())
    return out


def stage_evaluate(ctx: RunContext) -> list[Path]:
    """Ensembles of pseudo-experiments for every method, level and set size."""
    cfg = ctx.cfg
    truths = evaluation_truths(ctx)
    outs = []
    for level in cfg.evaluate.levels:
        for n_events in _fit_sizes(ctx):
            if "fit" in cfg.evaluate.methods:
                outs.append(_fit_ensembles(ctx, level, n_events, truths))
            if n_events not in cfg.evaluate.events_per_set:
                continue
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
        hist = _model_dir(ctx, method, level, n_main) / "history.json"
        if hist.exists():
            save(plots.plot_training_history(_history_lists(read_json(hist)), title=method),
                 f"training_{method}")
    images = _dataset_dir(ctx, "images", level, n_main) / "train"
    if (images / "index.json").exists():
        from hepc9.datasets.store import open_dataset

        ds = open_dataset(images)
        save(plots.plot_image_slices(np.asarray(ds.x[0], dtype=np.float32)), "image_slices")
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
