"""Ensembles of the ``ratio`` learned-likelihood estimator against the Cramér–Rao bound.

Run as ``python benchmarks/bench_ratio.py [--sets 100] [--sizes 8000 24000] [--model DIR]``.
Trains the default ``ratio`` network at generator level (timed) unless ``--model`` names a
trained one, measures the prediction rate (events/s through the network), then for each set
size N and true δC9 draws ``--sets`` fresh generator-level pseudo-experiments and prints
mean, σ (with its error), bias/σ, σ/σ_CRB, coverage of the MINOS ΔlnL = ½ interval (with
its binomial error), and the response slope over ``--slope-truths``.  ``--level det``: the
detector with 44 % background (fraction free); σ_CRB is then not computed here (nan), and
``--paired-fit`` also fits every pseudo-experiment with the analytic likelihood fit
(:func:`hepc9.fit.fit_events`: acceptance from an efficiency sample of ``--eff-events``
reconstructed signal events, background template from the sideband drawn with
``--sideband-sets`` sets' worth of background) and prints its row and the paired difference.

One efficiency sample serves every pseudo-experiment, so its statistical error moves all of
them together: it is a common error of the fit's ensemble bias that does not average down
with ``--sets`` (measured 2026-12-02: the 2·10⁵-event sample of the first detector-level
table shifted every set by +0.07 / +0.12 at δC9 = −0.82 / 0, against a 3·10⁶-event sample,
benchmarks/results/fit.md; the default of 3·10⁶ events keeps that error near 0.07σ at
N = 8000).  The fit row is therefore followed by the mean efficiency
component σ_eff of the fits (linear propagation, :mod:`hepc9.fit.uncertainty`) and the bias
with both errors; quote a detector-level fit bias only together with it.  The ``ratio`` rows
are followed likewise by the error its normalisation sample gives every set
(``common_error`` of :func:`hepc9.models.ratio.predict_sets`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
import time
import warnings

import numpy as np

from hepc9.config import Config, load_config
from hepc9.datasets.sets import DEFAULT_FEATURES, feature_matrix
from hepc9.fit.fisher import cramer_rao
from hepc9.models.ratio import per_event_outputs
from hepc9.seeding import seed_sequence
from hepc9.simulation import ChainInputs, EventFactory, detector_signal, signal_region_background
from hepc9.train import load_predictor, predict
from hepc9.train.ratio import train_ratio


def _events(chain, truth, n_events, n_sets, key):
    ss = seed_sequence(20261202, "evaluate", 9, n_events, key)
    if chain.detector is None:
        return chain.sample.at(truth).sample(n_events * n_sets, ss)
    # the one event chain: signal-region signal + background per set
    chain = dataclasses.replace(chain, events_per_item=n_events)
    return EventFactory(chain).draw(ss, truth, n_sets).signal


def _sets(chain, truth, n_events, n_sets, key):
    x = feature_matrix(_events(chain, truth, n_events, n_sets, key), DEFAULT_FEATURES)
    return x.reshape(n_sets, n_events, -1)


def _fit_inputs(cfg, chain, n_eff, n_sb_sets):
    """Acceptance sample and sideband template of the analytic fit (in memory)."""
    from hepc9.fit.acceptance import acceptance_sample
    from hepc9.fit.template_scan import scan_template_orders
    from hepc9.physics.constants import model_constants

    const = model_constants(cfg.physics.constants)
    eff = detector_signal(chain, chain.sample, seed_sequence(20261202, "evaluate", 9, 1, 1),
                          n_eff)
    acc = acceptance_sample(eff, generated_at=dataclasses.asdict(chain.sample.shifts),
                            q2_range=None, constants=const,
                            evaluate=cfg.fit.efficiency_evaluate, use_mkpi=cfg.fit.use_mkpi)
    _, sb, _, _ = signal_region_background(chain, seed_sequence(20261202, "evaluate", 9, 1, 2),
                                           n_sb_sets)
    fc = cfg.fit
    scan = scan_template_orders(sb, criterion=fc.template_criterion, start=fc.template_orders,
                                max_orders=fc.template_max_orders, q2_range=None,
                                acceptance=acc, outside="drop", constants=const)
    return {"acceptance": acc, "background": scan.template, "outside": "drop",
            "background_fraction": cfg.background.fraction, "efficiency_replicas": 0}


def _paired_fit(events, n_sets, n_events, fit_kw):
    from hepc9.fit import fit_events

    v, lo, hi, eff = (np.empty(n_sets) for _ in range(4))
    for i in range(n_sets):
        one = {k: a[i * n_events:(i + 1) * n_events] for k, a in events.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fit_events(one, free=("dc9",), q2_range=None, minos=True, **fit_kw)
        v[i] = r.values["dc9"]
        e = r.errors["dc9"]
        eff[i] = r.error_components["efficiency"]["dc9"] if r.error_components else math.nan
        lo[i], hi[i] = (r.interval("dc9") if r.minos is not None and "dc9" in r.minos
                        else (v[i] - e, v[i] + e))
    return v, lo, hi, float(np.mean(eff))


def _row(label, n, truth, v, lo, hi, s_crb=math.nan, dt=math.nan):
    sd = v.std(ddof=1)
    cov = np.mean((lo <= truth) & (truth <= hi))
    rmse = np.sqrt(np.mean((v - truth) ** 2))
    print(f"| {label} | {n} | {truth:+.2f} | {v.size} | {v.mean():+.3f} | {sd:.4f} ± "
          f"{sd / np.sqrt(2 * (v.size - 1)):.4f} | {(v.mean() - truth) / sd:+.3f} ± "
          f"{1 / np.sqrt(v.size):.3f} | {rmse:.4f} | {s_crb:.4f} | {sd / s_crb:.3f} ± "
          f"{sd / s_crb / np.sqrt(2 * (v.size - 1)):.3f} | {cov:.3f} ± "
          f"{np.sqrt(cov * (1 - cov) / v.size):.3f} | ({dt:.1f} s)")


def _paired_mse_ratio(v: np.ndarray, fv: np.ndarray, truth: float) -> tuple[float, float]:
    """MSE(ratio) / MSE(fit) on the same sets, with its error (delta method, paired)."""
    a, b = (v - truth) ** 2, (fv - truth) ** 2
    r = a.mean() / b.mean()
    c = np.cov(a, b)
    var = r ** 2 * (c[0, 0] / a.mean() ** 2 + c[1, 1] / b.mean() ** 2
                    - 2 * c[0, 1] / (a.mean() * b.mean())) / a.size
    return float(r), float(np.sqrt(max(var, 0.0)))


def _bias_line(label, v, truth, common, source):
    """Print the ensemble bias with its statistical error and the error all sets share."""
    sd = v.std(ddof=1)
    print(f"  {label} bias {v.mean() - truth:+.4f} ± {sd / np.sqrt(v.size):.4f} (sets) "
          f"± {common:.4f} ({source}, common to all sets); bias/σ "
          f"{(v.mean() - truth) / sd:+.3f} ± {1 / np.sqrt(v.size):.3f} ± {common / sd:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=100)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8000, 24000])
    ap.add_argument("--truths", type=float, nargs="+", default=[-0.82, 0.0, 0.4])
    ap.add_argument("--slope-truths", type=float, nargs="+", default=[-1.5, -0.5, 0.5])
    ap.add_argument("--model", default=None)
    ap.add_argument("--level", choices=("gen", "det"), default="gen",
                    help="det: detector, background fraction 0.44 (free in the fit)")
    ap.add_argument("--paired-fit", action="store_true",
                    help="det: also fit every pseudo-experiment with the analytic fit")
    ap.add_argument("--eff-events", type=int, default=3_000_000,
                    help="efficiency sample of the paired fit (its error is common to all sets)")
    ap.add_argument("--sideband-sets", type=int, default=30)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for the training (e.g. train.ratio_events=1000000)")
    args = ap.parse_args()
    cfg = load_config(None, args.set) if args.set else Config()
    if args.level == "det":
        cfg = cfg.replace(detector=dataclasses.replace(cfg.detector, enabled=True),
                          background=dataclasses.replace(cfg.background, enabled=True))
    chain = ChainInputs.from_config(cfg)
    if args.model is None:
        out = tempfile.mkdtemp(prefix="ratio-bench-")
        t, cpu = time.perf_counter(), time.process_time()
        res = train_ratio(cfg, out, overwrite=True)
        print(f"training: {time.perf_counter() - t:.1f} s wall, {time.process_time() - cpu:.1f} s "
              f"CPU, validation {res.validation}")
        args.model = out
    model, info = load_predictor(args.model)
    # the network's cost does not depend on where the features come from: 10⁶ generator events
    x = feature_matrix(chain.sample.sample(1_000_000, seed_sequence(20261202, "evaluate", 9, 0)),
                       DEFAULT_FEATURES)
    per_event_outputs(model, info, x[:1000])
    t = time.perf_counter()
    per_event_outputs(model, info, x)
    print(f"prediction: {x.shape[0] / (time.perf_counter() - t) / 1e6:.2f} M events/s "
          "(network incl. feature expansion)")
    shifts = chain.sample.shifts
    fit_kw = (_fit_inputs(cfg, chain, args.eff_events, args.sideband_sets)
              if args.paired_fit and args.level == "det" else None)
    print("| estimator | N | δC9 | sets | mean | σ ± err | bias/σ | √MSE | σ_CRB | σ/σ_CRB | "
          "coverage ± err |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        means = {}
        truths = sorted(set(args.truths) | set(args.slope_truths))
        for i, truth in enumerate(truths):
            events = _events(chain, truth, n, args.sets, i)
            sets = feature_matrix(events, DEFAULT_FEATURES).reshape(args.sets, n, -1)
            t = time.perf_counter()
            out = predict(model, info, sets)
            dt = time.perf_counter() - t
            v = out["dc9"]
            means[truth] = (v.mean(), v.std(ddof=1) / np.sqrt(v.size))
            if truth not in args.truths:
                continue
            s_crb = math.nan
            if args.level == "gen":
                crb = cramer_rao(n, at=shifts.with_(dc9=truth), params=("dc9",),
                                 q2_range=chain.sample.q2_range,
                                 constants=chain.sample.constants)
                s_crb = float(crb.sigma["dc9"])
            elif "background_fraction" in out:
                print(f"  fitted background fraction {out['background_fraction'].mean():.3f}")
            _row("ratio", n, truth, v, out["lower"], out["upper"], s_crb, dt)
            if "common_error" in out:
                _bias_line("ratio", v, truth, float(np.mean(out["common_error"])),
                           "normalisation sample")
            if fit_kw is not None:
                t = time.perf_counter()
                fv, flo, fhi, s_eff = _paired_fit(events, args.sets, n, fit_kw)
                _row("fit", n, truth, fv, flo, fhi, s_crb, time.perf_counter() - t)
                _bias_line("fit", fv, truth, s_eff, "efficiency sample")
                d = v - fv
                mse_ratio, mse_err = _paired_mse_ratio(v, fv, truth)
                print(f"  paired ratio − fit: {d.mean():+.4f} ± "
                      f"{d.std(ddof=1) / np.sqrt(d.size):.4f}; MSE ratio/fit {mse_ratio:.3f} "
                      f"± {mse_err:.3f}")
        st = np.array(args.slope_truths)
        m = np.array([means[t][0] for t in st])
        e = np.array([means[t][1] for t in st])
        w = 1 / e**2
        a = np.vstack([np.ones_like(st), st]).T
        cov_ab = np.linalg.inv(a.T @ (a * w[:, None]))
        coef = cov_ab @ (a.T @ (w * m))
        print(f"N = {n}: slope over {list(st)} = {coef[1]:.4f} ± {np.sqrt(cov_ab[1, 1]):.4f}")


if __name__ == "__main__":
    main()
