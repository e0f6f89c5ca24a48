"""Coverage of the detector-like fit: every pseudo-experiment draws its own auxiliary samples.

A pseudo-experiment of :func:`detector_coverage` holds N events in a "signal region": N − round(fN)
signal events of the model at the truth and round(fN) background events, both passed through a
known smooth acceptance ε(x) (accept–reject), the background drawn from an exponential-polynomial
template density.  It also draws, from its own random stream, the two finite samples whose
statistics enter the error:

* an efficiency simulation of ``efficiency_events`` Standard-Model events through the same ε,
  drawn from the generator density ``density`` (:mod:`hepc9.generate.density`; weights
  1/density, :func:`~hepc9.fit.acceptance.acceptance_sample`);
* a sideband of ``sideband_events`` background events through ε, to which the template is fitted
  relative to that efficiency sample (:func:`~hepc9.fit.templates.fit_template`).

The fit (:func:`~hepc9.fit.driver.fit_events`, free fraction, MINOS) then reports the statistical
error and the template and efficiency components; because the auxiliary samples fluctuate from
one pseudo-experiment to the next, the spread of δC9 includes their effect and the pulls use the
total error.  The MINOS interval is statistical; its "total" version widens each side by the
components in quadrature.  Pseudo-experiment i uses
``child_sequences(seed_sequence(seed, "fit_coverage"), n)[i]``.

:func:`efficiency_sample_spread` measures the common shift that *one* efficiency sample gives
an ensemble which shares it (as the evaluation ensembles and the benchmarks do): it fits one
pseudo-experiment with many independent efficiency samples and returns the spread of δC9
beside the efficiency component the fit reports.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.fit.acceptance import acceptance_sample
from hepc9.fit.driver import fit_events
from hepc9.fit.template_basis import template_features
from hepc9.fit.templates import fit_template
from hepc9.generate.sampler import sample_events
from hepc9.physics.constants import SEED_MODEL, WilsonShifts
from hepc9.physics.window import resolve_q2_range
from hepc9.seeding import child_sequences, seed_sequence

__all__ = [
    "BACKGROUND_COEFFICIENTS",
    "acceptance_probability",
    "detector_coverage",
    "efficiency_sample_spread",
]

#: Background density of the ensembles: ln g = Σ a·Φ at orders (2, 2, 2, 1).
BACKGROUND_COEFFICIENTS = (-0.4, 0.1, 0.3, -0.2, -0.8, 0.4, 0.15, 0.0)
_ORDERS = (2, 2, 2, 1)


def acceptance_probability(
    events: dict[str, np.ndarray], window: tuple[float, float]
) -> np.ndarray:
    """Return the smooth acceptance ε(x) ∈ (0, 1] of the ensembles (q² and cosθℓ dependent)."""
    u = (np.asarray(events["q2"]) - window[0]) / (window[1] - window[0])
    cl = np.asarray(events["costheta_l"])
    return (0.6 + 0.4 * u) * (1.0 - 0.5 * cl**2)


def _accept(ev: dict[str, np.ndarray], gen: np.random.Generator, window) -> dict[str, np.ndarray]:
    keep = gen.uniform(size=ev["q2"].size) < acceptance_probability(ev, window)
    return {k: v[keep] for k, v in ev.items()}


def _signal(n: int, ss: np.random.SeedSequence, truth: WilsonShifts, window, gen):
    """Exactly ``n`` accepted signal events."""
    parts, got = [], 0
    while got < n:
        ev = sample_events(int(1.6 * (n - got)) + 100, seed=ss.spawn(1)[0], shifts=truth,
                           q2_range=window, threads=1)  # fmt: skip
        ev = _accept(ev, gen, window)
        parts.append(ev)
        got += ev["q2"].size
    return {
        c: np.concatenate([p[c] for p in parts])[:n]
        for c in ("q2", "costheta_l", "costheta_k", "chi")
    }


def _background(
    n: int, gen: np.random.Generator, window: tuple[float, float]
) -> dict[str, np.ndarray]:
    """Exactly ``n`` accepted background events of the template density."""
    a = np.asarray(BACKGROUND_COEFFICIENTS)
    parts, got = [], 0
    while got < n:
        m = 6 * (n - got) + 100
        ev = {
            "q2": gen.uniform(window[0], window[1], m),
            "costheta_l": gen.uniform(-1, 1, m),
            "costheta_k": gen.uniform(-1, 1, m),
            "chi": gen.uniform(0, 2 * math.pi, m),
        }
        logg = template_features(ev, _ORDERS, window) @ a
        keep = gen.uniform(size=m) < np.exp(logg - np.abs(a).sum())
        ev = _accept({k: v[keep] for k, v in ev.items()}, gen, window)
        parts.append(ev)
        got += ev["q2"].size
    return {c: np.concatenate([p[c] for p in parts])[:n] for c in parts[0]}


def _one(ss, *, n_events, fraction, truth, window, efficiency_events, sideband_events,
         density):
    gen = np.random.default_rng(ss.spawn(1)[0])
    n_b = round(fraction * n_events)
    sig = _signal(n_events - n_b, ss, truth, window, gen)
    data = {k: np.concatenate((sig[k], v)) for k, v in _background(n_b, gen, window).items()}
    sim = _accept(sample_events(efficiency_events, seed=ss.spawn(1)[0], shifts={},
                                q2_range=window, threads=1, density=density),
                  gen, window)  # fmt: skip
    acc = acceptance_sample(sim, generated_at={}, q2_range=window, density=density)
    tpl = fit_template(_background(sideband_events, gen, window), orders=_ORDERS,
                       q2_range=window, acceptance=acc)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_events(data, q2_range=window, acceptance=acc, background=tpl,
                         background_fraction=fraction, minos=True)  # fmt: skip
    c = res.error_components
    if c is None:  # cannot happen with an acceptance sample; keeps the types honest
        raise DataError("the detector-like fit returned no error components")
    extra = math.hypot(c["template"]["dc9"], c["efficiency"]["dc9"])
    lo, hi = res.interval("dc9") if res.minos else (math.nan, math.nan)
    v = res.values["dc9"]
    return {"dc9": v, "error": res.errors["dc9"], "stat": c["statistical"]["dc9"],
            "efficiency_effective_size": acc.effective_size,
            "template": c["template"]["dc9"], "efficiency": c["efficiency"]["dc9"],
            "f_bkg": res.values["f_bkg"], "minos": (lo, hi),
            "minos_total": (v - math.hypot(v - lo, extra), v + math.hypot(hi - v, extra)),
            "valid": bool(res.valid)}  # fmt: skip


def detector_coverage(
    n_experiments: int,
    n_events: int,
    *,
    truth: float = -0.82,
    fraction: float = 0.44,
    efficiency_events: int = 100_000,
    sideband_events: int = 20_000,
    q2_range: Sequence[float] | None = (1.1, 6.0),
    seed: int = 0,
    density: str = "rate",
) -> dict[str, Any]:
    """Run the ensemble and return pulls and coverage with their statistical errors.

    Parameters
    ----------
    n_experiments, n_events : int
        Pseudo-experiments and signal-region events per experiment.
    truth : float
        True δC9.
    fraction : float
        Background fraction of the signal region.
    efficiency_events, sideband_events : int
        Generated efficiency-simulation events and accepted sideband events per experiment.
    q2_range : (float, float), optional
        Window in GeV² (default [1.1, 6]).
    seed : int
        Master seed.
    density : {"rate", "flat_angles", "mixture"}
        Generator density of the efficiency simulations.

    Returns
    -------
    dict
        ``pull_mean``, ``pull_width`` (total errors) with ``*_error``; ``pull_width_stat``
        (statistical errors only); ``minos_coverage`` (statistical interval) and
        ``minos_total_coverage`` (widened by the components) with their binomial error;
        ``mean_components``; ``experiments`` (per-experiment records).
    """
    window = resolve_q2_range(q2_range, SEED_MODEL)
    point = WilsonShifts(dc9=float(truth))
    streams = child_sequences(seed_sequence(int(seed), "fit_coverage"), int(n_experiments))
    rows = [_one(ss, n_events=int(n_events), fraction=float(fraction), truth=point,
                 window=window, efficiency_events=int(efficiency_events),
                 sideband_events=int(sideband_events), density=density)
            for ss in streams]  # fmt: skip
    rows = [r for r in rows if r["valid"]]
    n = len(rows)
    v = np.array([r["dc9"] for r in rows])
    pull = (v - truth) / np.array([r["error"] for r in rows])
    pull_stat = (v - truth) / np.array([r["stat"] for r in rows])

    def covered(key: str) -> float:
        return float(np.mean([r[key][0] <= truth <= r[key][1] for r in rows]))

    cov, cov_t = covered("minos"), covered("minos_total")
    return {
        "n_experiments": n, "n_events": int(n_events), "truth": float(truth),
        "fraction": float(fraction), "q2_range": list(window),
        "efficiency_events": int(efficiency_events), "sideband_events": int(sideband_events),
        "density": density,
        "pull_mean": float(pull.mean()), "pull_mean_error": float(pull.std(ddof=1) / math.sqrt(n)),
        "pull_width": float(pull.std(ddof=1)),
        "pull_width_error": float(pull.std(ddof=1) / math.sqrt(2 * (n - 1))),
        "pull_width_stat": float(pull_stat.std(ddof=1)),
        "minos_coverage": cov, "minos_coverage_error": math.sqrt(cov * (1 - cov) / n),
        "minos_total_coverage": cov_t,
        "minos_total_coverage_error": math.sqrt(cov_t * (1 - cov_t) / n),
        "mean_components": {k: float(np.mean([r[k] for r in rows]))
                            for k in ("stat", "template", "efficiency",
                                      "efficiency_effective_size")},
        "experiments": rows,
    }  # fmt: skip


def efficiency_sample_spread(
    n_samples: int,
    n_events: int,
    *,
    truth: float = -0.82,
    fraction: float = 0.44,
    efficiency_events: int = 20_000,
    sideband_events: int = 20_000,
    q2_range: Sequence[float] | None = (1.1, 6.0),
    seed: int = 0,
) -> dict[str, Any]:
    """Fit one pseudo-experiment with ``n_samples`` independent efficiency samples.

    An ensemble of pseudo-experiments that shares one efficiency sample is shifted as a whole
    by that sample's statistical error: a bias of the ensemble that does not average down with
    the number of experiments.  Its size is measured here directly — the standard deviation of
    δC9 over independent efficiency samples, with the same data and the same sideband (the
    template refitted relative to each sample) — beside the mean efficiency component of the
    fits (:mod:`hepc9.fit.uncertainty`); the component is the right error of a shared sample
    when the two agree.  The data, sideband and acceptance are those of
    :func:`detector_coverage`; efficiency sample k draws from
    ``child_sequences(seed_sequence(seed, "fit_efficiency_spread"), n_samples + 1)[k + 1]``,
    the data and sideband from element 0.

    Parameters
    ----------
    n_samples : int
        Independent efficiency samples (≥ 2).
    n_events : int
        Signal-region events of the pseudo-experiment.
    truth, fraction : float
        True δC9 and background fraction.
    efficiency_events, sideband_events : int
        Generated events per efficiency sample; accepted sideband events.
    q2_range : (float, float), optional
        Window in GeV² (default [1.1, 6]).
    seed : int
        Master seed.

    Returns
    -------
    dict
        ``values`` (δC9 per efficiency sample), ``spread`` and ``spread_error`` (standard
        deviation over the samples and its error), ``mean_efficiency_component``,
        ``mean_statistical``, ``n_samples``.
    """
    if int(n_samples) < 2:
        raise DataError(f"n_samples = {n_samples}: the spread needs at least 2 samples")
    window = resolve_q2_range(q2_range, SEED_MODEL)
    streams = child_sequences(seed_sequence(int(seed), "fit_efficiency_spread"),
                              int(n_samples) + 1)  # fmt: skip
    gen = np.random.default_rng(streams[0].spawn(1)[0])
    n_b = round(float(fraction) * int(n_events))
    sig = _signal(int(n_events) - n_b, streams[0], WilsonShifts(dc9=float(truth)), window, gen)
    data = {k: np.concatenate((sig[k], v)) for k, v in _background(n_b, gen, window).items()}
    sideband = _background(int(sideband_events), gen, window)
    rows = []
    for ss in streams[1:]:
        g = np.random.default_rng(ss.spawn(1)[0])
        sim = _accept(sample_events(int(efficiency_events), seed=ss.spawn(1)[0], shifts={},
                                    q2_range=window, threads=1), g, window)  # fmt: skip
        acc = acceptance_sample(sim, generated_at={}, q2_range=window)
        tpl = fit_template(sideband, orders=_ORDERS, q2_range=window, acceptance=acc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_events(data, q2_range=window, acceptance=acc, background=tpl,
                             background_fraction=float(fraction))  # fmt: skip
        c = res.error_components
        if c is None:  # cannot happen with an acceptance sample; keeps the types honest
            raise DataError("the detector-like fit returned no error components")
        rows.append((res.values["dc9"], c["efficiency"]["dc9"], c["statistical"]["dc9"]))
    v, eff, stat = (np.array(x) for x in zip(*rows, strict=True))
    spread = float(v.std(ddof=1))
    return {
        "n_samples": int(n_samples), "values": v.tolist(), "spread": spread,
        "spread_error": spread / math.sqrt(2 * (v.size - 1)),
        "mean_efficiency_component": float(eff.mean()), "mean_statistical": float(stat.mean()),
    }  # fmt: skip
