"""Generator-level resolution of the fairly trained networks against the Cramér–Rao bound.

Run as ``python benchmarks/bench_fair_networks.py CONFIG --model event --train-events 2000
--events 2000 8000 [--sets 40] [--output DIR] [--init-from MODEL_DIR]`` (or ``--evaluate
MODEL_DIR [MODEL_DIR ...]``: saved models, each and their mean).  Trains the model
(from scratch, or fine-tuning a saved one) on streamed sets (the ``[datasets] prior``, two
validation splits) at generator level, then predicts independent
pseudo-experiments at the truths, fits the response line mean(δC9̂) = a + slope · truth and
prints, per truth and set size, the slope-corrected resolution σ/slope and its ratio to
σ_CRB, the bias and the 16–84 % coverage (event classifier).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.config import load_config
from hepc9.datasets.build import dataset_spec
from hepc9.datasets.sets import make_sets
from hepc9.evaluate.metrics import linearity_fit
from hepc9.fit.fisher import cramer_rao
from hepc9.physics.constants import model_constants
from hepc9.pipeline.stages import level_config
from hepc9.pipeline.train import train_from_folder
from hepc9.simulation import EventFactory, generate_shifts, q2_window
from hepc9.train import load_predictor, predict

TRUTHS = (-1.5, -0.82, 0.0, 0.5)


def response_rows(cfg: Any, n: int, preds: dict[float, np.ndarray]) -> list[dict[str, Any]]:
    """Slope of the mean response over :data:`TRUTHS` and, per truth, bias, σ and ratio.

    Parameters
    ----------
    cfg : hepc9.config.Config
        Generator-level configuration (shifts, q² window, constants of the bound).
    n : int
        Events per pseudo-experiment.
    preds : dict
        Estimates per truth.

    Returns
    -------
    list of dict
        ``events``, ``truth``, ``slope`` (linearity fit weighted by the errors of the means)
        and ``slope_err``, ``sigma``, ``sigma_crb``, ``ratio_corrected``, ``bias`` per truth.
    """
    constants = model_constants(cfg.physics.constants)
    line = linearity_fit(TRUTHS, [preds[t].mean() for t in TRUTHS],
                         [np.std(preds[t], ddof=1) / np.sqrt(preds[t].size) for t in TRUTHS])
    slope = line.slope
    rows = []
    for t in TRUTHS:
        crb = cramer_rao(n, at=generate_shifts(cfg.generate, dc9=t), params=("dc9",),
                         q2_range=q2_window(cfg.generate, constants),
                         constants=constants).sigma["dc9"]
        sd = float(np.std(preds[t], ddof=1))
        rows.append({"events": n, "truth": t, "slope": slope, "slope_err": line.slope_err,
                     "sigma": sd,
                     "sigma_crb": float(crb), "ratio_corrected": sd / abs(slope) / crb,
                     "bias": float(preds[t].mean() - t)})
    return rows


def main() -> None:
    """Train, predict pseudo-experiments and print the comparison with the bound."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config")
    ap.add_argument("--model", default="event")
    ap.add_argument("--train-events", type=int, default=2000)
    ap.add_argument("--events", type=int, nargs="+", default=[2000, 8000])
    ap.add_argument("--sets", type=int, default=40)
    ap.add_argument("--output", default="/tmp/bench_fair")
    ap.add_argument("--init-from", default=None, metavar="MODEL_DIR",
                    help="fine-tune this saved model instead of training from scratch")
    ap.add_argument("--evaluate", nargs="+", default=None, metavar="MODEL_DIR",
                    help="no training: evaluate these saved models, each and (more than one) "
                         "their mean, with the set-by-set correlation of the first two")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = level_config(load_config(args.config, overrides=args.overrides), "gen")
    sub = cfg.replace(datasets=dataclasses.replace(cfg.datasets, kind="sets",
                                                   events_per_image=args.train_events))
    train_s = None
    if args.evaluate:
        folders = [Path(m) for m in args.evaluate]
    else:
        folders = [Path(args.output) / f"{args.model}_N{args.train_events}"]
        t0 = time.perf_counter()
        train_from_folder(sub, None, folders[0], model_name=args.model, overwrite=True,
                          stream=True, progress=False, init_from=args.init_from)
        train_s = round(time.perf_counter() - t0, 1)
    loaded = [load_predictor(f) for f in folders]
    labels = [str(f) for f in folders] + (["mean"] if len(folders) > 1 else [])
    rows = []
    for n in args.events:
        ncfg = cfg.replace(datasets=dataclasses.replace(sub.datasets, events_per_image=n))
        factory, spec = EventFactory(ncfg), dataset_spec(sub)
        preds: dict[str, dict[float, np.ndarray]] = {label: {} for label in labels}
        covered: dict[str, dict[float, float]] = {label: {} for label in labels}
        corr = {}
        for i, t in enumerate(TRUTHS):
            ss = np.random.SeedSequence(987654321, spawn_key=(n, i))
            x = make_sets(factory.draw(ss, t, args.sets).signal, spec, n_sets=args.sets)
            for label, (model, info) in zip(labels, loaded, strict=False):
                res = predict(model, info, x)
                preds[label][t] = res["dc9"]
                if "lower" in res:
                    covered[label][t] = float(np.mean((res["lower"] <= t)
                                                      & (t <= res["upper"])))
            if len(folders) > 1:
                each = np.array([preds[label][t] for label in labels[:-1]])
                preds["mean"][t] = each.mean(axis=0)
                corr[t] = float(np.corrcoef(each[0], each[1])[0, 1])
        for label in labels:
            for row in response_rows(cfg, n, preds[label]):
                rows.append({"estimate": label, **row, "coverage": covered[label].get(row["truth"]),
                             "correlation_first_two": corr.get(row["truth"])})
    print(json.dumps({"model": args.model, "train_seconds": train_s,
                      "training": loaded[0][1].get("training", {}).get("epochs_run"),
                      "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
