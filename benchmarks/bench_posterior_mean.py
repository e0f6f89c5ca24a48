"""What a set regressor trained by mean squared error can reach: the exact posterior mean.

Run as ``python benchmarks/bench_posterior_mean.py CONFIG [--sets 100] [--events 2000 8000]``.
A network trained by MSE on labels drawn from a prior learns, at best, the posterior mean
E[δC9 | set] under that prior.  This benchmark computes that optimum exactly at generator level:
for the pseudo-experiments of ``bench_fair_networks.py`` (same seeds, same truths) it evaluates
the exact log-likelihood Σ ln(θ̃ᵀ M_i θ̃) − N ln(θ̃ᵀ 𝕄 θ̃) (physics.md §6: the per-event
quadratic-form matrices at the true kinematics and the normalisation over the q² window) on a
fine grid over ``[datasets] prior_range`` and prints, per set size and truth, the response
slope, bias, σ and (σ/slope)/σ_CRB of the posterior mean (uniform prior) beside those of the
grid maximum (the maximum-likelihood estimate).  The difference between the two rows is what
the choice of the MSE target costs, independent of any training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from bench_fair_networks import TRUTHS, response_rows

from hepc9.config import load_config
from hepc9.physics.constants import model_constants
from hepc9.physics.quadratic import (
    normalisation_matrix,
    quadratic_coefficients,
    quadratic_form,
)
from hepc9.pipeline.stages import level_config
from hepc9.simulation import EventFactory, generate_shifts, q2_window

_CHUNK = 16


def _log_likelihood(mats: np.ndarray, norm: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """ln L on ``grid`` for each set: mats (n_sets, n, 2, 2), norm (2, 2)."""
    a, b, c = mats[..., 0, 0], 2.0 * mats[..., 0, 1], mats[..., 1, 1]
    z = np.array([quadratic_form(norm, [g]) for g in grid])
    out = np.empty((mats.shape[0], grid.size))
    for lo in range(0, grid.size, _CHUNK):
        g = grid[lo:lo + _CHUNK]
        rate = a[..., None] + b[..., None] * g + c[..., None] * g ** 2
        out[:, lo:lo + _CHUNK] = np.log(np.maximum(rate, 1e-300)).sum(axis=1)
    return out - mats.shape[1] * np.log(z)


def main() -> None:
    """Draw the pseudo-experiments, compute both estimates and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config")
    ap.add_argument("--events", type=int, nargs="+", default=[2000, 8000])
    ap.add_argument("--sets", type=int, default=100)
    ap.add_argument("--grid-step", type=float, default=0.002)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = level_config(load_config(args.config, overrides=args.overrides), "gen")
    constants = model_constants(cfg.physics.constants)
    window = q2_window(cfg.generate, constants)
    at = generate_shifts(cfg.generate, dc9=0.0)
    norm = normalisation_matrix(params=("dc9",), at=at, constants=constants, q2_range=window)
    lo, hi = cfg.datasets.prior_range
    grid = np.arange(lo, hi + 0.5 * args.grid_step, args.grid_step)
    t0 = time.perf_counter()
    rows = []
    for n in args.events:
        ncfg = cfg.replace(datasets=dataclasses.replace(cfg.datasets, kind="sets",
                                                        events_per_image=n))
        factory = EventFactory(ncfg)
        est: dict[str, dict[float, np.ndarray]] = {"posterior_mean": {}, "grid_maximum": {}}
        for i, t in enumerate(TRUTHS):
            ss = np.random.SeedSequence(987654321, spawn_key=(n, i))
            ev = factory.draw(ss, t, args.sets).signal
            mats = quadratic_coefficients(ev["q2"], ev["costheta_l"], ev["costheta_k"],
                                          ev["chi"], params=("dc9",), at=at,
                                          constants=constants)
            lnl = _log_likelihood(mats.reshape(args.sets, n, 2, 2), norm, grid)
            w = np.exp(lnl - lnl.max(axis=1, keepdims=True))
            est["posterior_mean"][t] = (w * grid).sum(axis=1) / w.sum(axis=1)
            est["grid_maximum"][t] = grid[np.argmax(lnl, axis=1)]
        for name, preds in est.items():
            rows += [{"estimate": name, **row} for row in response_rows(cfg, n, preds)]
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 1), "prior": [lo, hi],
                      "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
