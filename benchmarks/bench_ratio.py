"""Ensembles of the ``ratio`` learned-likelihood estimator against the Cramér–Rao bound.

Run as ``python benchmarks/bench_ratio.py [--sets 100] [--sizes 8000 24000] [--model DIR]``.
Trains the default ``ratio`` network at generator level (timed) unless ``--model`` names a
trained one, measures the prediction rate (events/s through the network), then for each set
size N and true δC9 draws ``--sets`` fresh generator-level pseudo-experiments and prints
mean, σ (with its error), bias/σ, σ/σ_CRB, coverage of the MINOS ΔlnL = ½ interval (with
its binomial error), and the response slope over ``--slope-truths``.  ``--level det``: the
detector with 44 % background (fraction free); σ_CRB is then not computed here (nan).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
import time

import numpy as np

from hepc9.config import Config
from hepc9.datasets.sets import DEFAULT_FEATURES, feature_matrix
from hepc9.fit.fisher import cramer_rao
from hepc9.models.ratio import per_event_outputs
from hepc9.seeding import seed_sequence
from hepc9.simulation import ChainInputs, EventFactory
from hepc9.train import load_predictor, predict
from hepc9.train.ratio import train_ratio


def _sets(chain, truth, n_events, n_sets, key):
    ss = seed_sequence(20261202, "evaluate", 9, n_events, key)
    if chain.detector is None:
        ev = chain.sample.at(truth).sample(n_events * n_sets, ss)
    else:  # the one event chain: signal-region signal + background per set
        chain = dataclasses.replace(chain, events_per_item=n_events)
        ev = EventFactory(chain).draw(ss, truth, n_sets).signal
    x = feature_matrix(ev, DEFAULT_FEATURES)
    return x.reshape(n_sets, n_events, -1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=100)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8000, 24000])
    ap.add_argument("--truths", type=float, nargs="+", default=[-0.82, 0.0, 0.4])
    ap.add_argument("--slope-truths", type=float, nargs="+", default=[-1.5, -0.5, 0.5])
    ap.add_argument("--model", default=None)
    ap.add_argument("--level", choices=("gen", "det"), default="gen",
                    help="det: detector, background fraction 0.44 (free in the fit)")
    args = ap.parse_args()
    cfg = Config()
    if args.level == "det":
        cfg = cfg.replace(detector=dataclasses.replace(cfg.detector, enabled=True),
                          background=dataclasses.replace(cfg.background, enabled=True))
    chain = ChainInputs.from_config(cfg)
    if args.model is None:
        out = tempfile.mkdtemp(prefix="ratio-bench-")
        t = time.perf_counter()
        res = train_ratio(cfg, out, overwrite=True)
        print(f"training: {time.perf_counter() - t:.1f} s wall, validation {res.validation}")
        args.model = out
    model, info = load_predictor(args.model)
    x = _sets(chain, 0.0, 1_000_000, 1, 99)[0]
    per_event_outputs(model, info, x[:1000])
    t = time.perf_counter()
    per_event_outputs(model, info, x)
    print(f"prediction: {x.shape[0] / (time.perf_counter() - t) / 1e6:.2f} M events/s "
          "(network incl. feature expansion)")
    shifts = chain.sample.shifts
    print("| N | δC9 | sets | mean | σ ± err | bias/σ | σ_CRB | σ/σ_CRB | coverage ± err |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        means = {}
        truths = sorted(set(args.truths) | set(args.slope_truths))
        for i, truth in enumerate(truths):
            sets = _sets(chain, truth, n, args.sets, i)
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
            sd = v.std(ddof=1)
            cov = np.mean((out["lower"] <= truth) & (truth <= out["upper"]))
            print(f"| {n} | {truth:+.2f} | {v.size} | {v.mean():+.3f} | {sd:.4f} ± "
                  f"{sd / np.sqrt(2 * (v.size - 1)):.4f} | {(v.mean() - truth) / sd:+.3f} ± "
                  f"{1 / np.sqrt(v.size):.3f} | {s_crb:.4f} | {sd / s_crb:.3f} ± "
                  f"{sd / s_crb / np.sqrt(2 * (v.size - 1)):.3f} | {cov:.3f} ± "
                  f"{np.sqrt(cov * (1 - cov) / v.size):.3f} | ({dt:.1f} s)")
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
