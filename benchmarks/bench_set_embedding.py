"""How much of the Fisher information a Deep Sets embedding φ keeps: its score efficiency.

Run as ``python benchmarks/bench_set_embedding.py CONFIG MODEL_DIR [MODEL_DIR ...]
[--events 40000] [--set KEY=VALUE]``.  Deep Sets estimates δC9 from the set mean of its
per-event embedding φ(x).  For large N any function ρ of that mean is, to first order, a
linear combination of the mean, so its variance is at least σ²_CRB / R², where R² is the
squared correlation between the exact per-event score ∂ ln p(x|δC9)/∂δC9 and its best linear
combination of the φ components (a moment estimator reaches the bound only when the score
lies in their span).  This benchmark draws generator-level events at the fair-network truths,
evaluates the exact score from the quadratic rate (physics.md §6, at the true kinematics),
regresses it on φ by least squares and prints R² and the floor 1/√R² on σ/σ_CRB that the
embedding leaves to any ρ; comparing it with the measured ratio (bench_fair_networks.py)
separates what φ loses from what ρ loses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
from bench_fair_networks import TRUTHS

from hepc9.config import load_config
from hepc9.datasets.build import dataset_spec
from hepc9.datasets.sets import make_sets
from hepc9.models.inputs import prepare_inputs
from hepc9.physics.constants import model_constants
from hepc9.physics.quadratic import quadratic_coefficients
from hepc9.pipeline.stages import level_config
from hepc9.simulation import EventFactory, generate_shifts
from hepc9.train import load_predictor

_PER_SET = 2000


def score_efficiency(embedding: np.ndarray, score: np.ndarray) -> float:
    """R² of the least-squares fit of ``score`` by a constant plus the ``embedding`` columns.

    Parameters
    ----------
    embedding : ndarray, shape (n, H)
        φ per event.
    score : ndarray, shape (n,)
        Exact per-event score.

    Returns
    -------
    float
        Fraction of the score variance the embedding spans (1: no information lost).
    """
    design = np.column_stack([np.ones(len(score)), embedding])
    coef, *_ = np.linalg.lstsq(design, score, rcond=None)
    return float(1.0 - np.var(score - design @ coef) / np.var(score))


def _embedding(model, info, x):
    """φ of every event of the sets ``x``: the output of the last layer named ``phi_*``."""
    import keras

    last = [layer.name for layer in model.layers if layer.name.startswith("phi_")][-1]
    sub = keras.Model(model.input, model.get_layer(last).output)
    h = np.asarray(sub.predict(prepare_inputs(x, info), verbose=0, batch_size=4))
    return h.reshape(-1, h.shape[-1])


def main() -> None:
    """Draw events, evaluate the exact score and each model's φ, print the efficiencies."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = level_config(load_config(args.config, overrides=args.overrides), "gen")
    cfg = cfg.replace(datasets=dataclasses.replace(cfg.datasets, kind="sets",
                                                   events_per_image=_PER_SET))
    constants = model_constants(cfg.physics.constants)
    at = generate_shifts(cfg.generate, dc9=0.0)
    factory, spec = EventFactory(cfg), dataset_spec(cfg)
    loaded = [(d, *load_predictor(d)) for d in args.models]
    n_sets = max(1, args.events // _PER_SET)
    rows = []
    for i, t in enumerate(TRUTHS):
        ev = factory.draw(np.random.SeedSequence(24680, spawn_key=(i,)), t, n_sets).signal
        x = make_sets(ev, spec, n_sets=n_sets)
        mats = quadratic_coefficients(ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"],
                                      params=("dc9",), at=at, constants=constants)
        a, b, c = mats[..., 0, 0], 2.0 * mats[..., 0, 1], mats[..., 1, 1]
        score = (b + 2.0 * c * t) / (a + b * t + c * t * t)
        for folder, model, info in loaded:
            r2 = score_efficiency(_embedding(model, info, x), score)
            rows.append({"model": folder, "truth": t, "events": int(score.size),
                         "r2": round(r2, 4), "floor_ratio": round(1.0 / np.sqrt(r2), 3)})
    print(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
