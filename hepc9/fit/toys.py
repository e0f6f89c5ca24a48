"""Ensembles of pseudo-experiments ("toys") fitted with the unbinned likelihood.

Each toy draws ``n_events`` events from the model at the true point with the numba sampler
(:func:`hepc9.generate.sampler.sample_events`) and fits them (:mod:`hepc9.fit.likelihood`).
Toy ``i`` always uses the random stream ``child_sequences(seed_sequence(seed, "fit_toys"),
n_toys)[i]`` (:func:`hepc9.runner.task_streams`), so the results do not depend on the number of
workers or on the chunking.  Toys run through the one task dispatcher
(:func:`hepc9.runner.map_tasks`) on a thread pool: the sampler and the likelihood kernels are
``nogil`` numba code, so two threads use two cores.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import DataError, FitNotConvergedWarning
from hepc9.fit.driver import LikelihoodFit
from hepc9.fit.inputs import check_free, event_coefficients, model_normalisation, resolve_q2_range
from hepc9.generate.sampler import sample_events
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, ModelConstants, WilsonShifts
from hepc9.runner import map_tasks, task_streams

__all__ = ["ToyResults", "fit_toys"]


@dataclass(frozen=True)
class ToyResults:
    """Fit results of a toy ensemble.

    Attributes
    ----------
    free : tuple of str
        Fitted shifts.
    truth : dict of str to float
        The true point.
    n_events : int
        Events per toy.
    q2_range : (float, float)
    values, errors : ndarray, shape (n_toys, k)
        Best-fit values and HESSE errors.
    minos_lower, minos_upper : ndarray, shape (n_toys, k)
        MINOS errors (lower ≤ 0 ≤ upper), NaN when MINOS was not run.
    valid : ndarray of bool, shape (n_toys,)
    nll : ndarray, shape (n_toys,)
    seed : int
    """

    free: tuple[str, ...]
    truth: dict[str, float]
    n_events: int
    q2_range: tuple[float, float]
    values: np.ndarray
    errors: np.ndarray
    minos_lower: np.ndarray
    minos_upper: np.ndarray
    valid: np.ndarray
    nll: np.ndarray
    seed: int

    @property
    def n_toys(self) -> int:
        """Number of toys."""
        return int(self.valid.size)

    def pulls(self) -> np.ndarray:
        """Return (value − truth)/HESSE error, shape (n_toys, k)."""
        t = np.array([self.truth[n] for n in self.free])
        return (self.values - t) / self.errors

    def minos_covered(self) -> np.ndarray:
        """Return whether each MINOS interval contains the truth, shape (n_toys, k), bool."""
        t = np.array([self.truth[n] for n in self.free])
        return (self.values + self.minos_lower <= t) & (t <= self.values + self.minos_upper)

    def summary(self) -> dict[str, Any]:
        """Return per-parameter mean, spread, mean error, pull mean/width (valid toys only)."""
        ok = self.valid
        out: dict[str, Any] = {"n_toys": self.n_toys, "n_valid": int(ok.sum())}
        pulls = self.pulls()
        for j, name in enumerate(self.free):
            v = self.values[ok, j]
            p = pulls[ok, j]
            out[name] = {
                "truth": self.truth[name],
                "mean": float(v.mean()),
                "std": float(v.std(ddof=1)) if v.size > 1 else math.nan,
                "mean_error": float(self.errors[ok, j].mean()),
                "pull_mean": float(p.mean()),
                "pull_std": float(p.std(ddof=1)) if p.size > 1 else math.nan,
            }
            if np.isfinite(self.minos_lower[ok, j]).all():
                out[name]["minos_coverage"] = float(self.minos_covered()[ok, j].mean())
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data."""
        return {
            "free": list(self.free),
            "truth": dict(self.truth),
            "n_events": self.n_events,
            "q2_range": list(self.q2_range),
            "values": self.values.tolist(),
            "errors": self.errors.tolist(),
            "minos_lower": self.minos_lower.tolist(),
            "minos_upper": self.minos_upper.tolist(),
            "valid": self.valid.tolist(),
            "nll": self.nll.tolist(),
            "seed": self.seed,
        }


def _one_toy(
    ss: np.random.SeedSequence,
    *,
    n_events: int,
    truth: WilsonShifts,
    free: tuple[str, ...],
    at: WilsonShifts,
    window: tuple[float, float],
    constants: ModelConstants,
    norm: np.ndarray,
    minos: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool, float]:
    ev = sample_events(
        n_events, seed=ss, shifts=truth, constants=constants, q2_range=window, threads=1
    )
    coeffs = event_coefficients(ev, params=free, at=at, constants=constants, q2_range=window)
    lf = LikelihoodFit(coeffs, norm, free=free, at=at, q2_range=window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitNotConvergedWarning)
        res = lf.fit(minos=minos)  # start at 0 (the seed model), as for real data
    k = len(free)
    vals = np.array([res.values[n] for n in free])
    errs = np.array([res.errors[n] for n in free])
    lo = np.full(k, np.nan)
    hi = np.full(k, np.nan)
    if res.minos is not None:
        lo = np.array([res.minos[n][0] for n in free])
        hi = np.array([res.minos[n][1] for n in free])
    return vals, errs, lo, hi, res.valid, res.nll


def fit_toys(
    n_toys: int,
    n_events: int,
    *,
    truth: WilsonShifts | Mapping[str, float] = ZERO_SHIFTS,
    seed: int,
    free: Sequence[str] | str = ("dc9",),
    q2_range: Sequence[float] | None = None,
    constants: ModelConstants = SEED_MODEL,
    minos: bool = False,
    workers: int = 0,
) -> ToyResults:
    """Generate and fit ``n_toys`` pseudo-experiments of ``n_events`` events each.

    Parameters
    ----------
    n_toys : int
        Number of pseudo-experiments.
    n_events : int
        Events per pseudo-experiment.
    truth : WilsonShifts or mapping
        True Wilson-coefficient point (also fixes the shifts that are not fitted).
    seed : int
        Master seed; toy i uses the stream ``(seed, "fit_toys", i)``.
    free : sequence of str or str
        Fitted shifts.
    q2_range : (float, float), optional
        Generation and fit window in GeV² (default full range).
    constants : ModelConstants
    minos : bool
        Also run MINOS in every toy.
    workers : int
        Threads (0: all CPUs).

    Returns
    -------
    ToyResults
        Invalid fits are kept with ``valid=False`` (no warning per toy).
    """
    for name, val in (("n_toys", n_toys), ("n_events", n_events)):
        if isinstance(val, bool) or int(val) != val or val <= 0:
            raise DataError(f"{name} = {val!r} must be a positive integer")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise DataError(f"seed = {seed!r} must be a non-negative integer")
    if workers < 0:
        raise DataError(f"workers = {workers} must be >= 0")
    point = truth if isinstance(truth, WilsonShifts) else WilsonShifts.from_mapping(truth)
    names = check_free(free)
    window = resolve_q2_range(q2_range, constants)
    at = point.with_(**dict.fromkeys(names, 0.0))
    norm = model_normalisation(params=names, at=at, constants=constants, q2_range=window)
    streams = task_streams(int(seed), "fit_toys", int(n_toys))
    n_workers = workers or os.cpu_count() or 1

    def run(ss: np.random.SeedSequence) -> Any:
        return _one_toy(
            ss,
            n_events=int(n_events),
            truth=point,
            free=names,
            at=at,
            window=window,
            constants=constants,
            norm=norm,
            minos=minos,
        )

    # The first toy runs in this thread: it compiles (or loads) every numba kernel once, so
    # that worker threads never compile the same kernel concurrently (numba is not safe there).
    results = map_tasks(run, streams, threads=n_workers, first_here=True)
    vals, errs, lo, hi, ok, nll = zip(*results, strict=True)
    return ToyResults(
        free=names,
        truth={n: getattr(point, n) for n in names},
        n_events=int(n_events),
        q2_range=window,
        values=np.array(vals),
        errors=np.array(errs),
        minos_lower=np.array(lo),
        minos_upper=np.array(hi),
        valid=np.array(ok, dtype=bool),
        nll=np.array(nll),
        seed=int(seed),
    )
