"""One estimator's summary over labelled ensembles: :class:`EnsembleResult`.

It holds, per true value, the distribution summary of the estimates, the raw estimates and
the per-set 68 % intervals the estimator reported (the fit's MINOS or ±HESSE interval, a
network's posterior quantiles; absent when it reports none), the held-out Neyman intervals
built from the ensembles themselves (:mod:`hepc9.evaluate.belts`), the coverage of both, the
linearity fit, and what the estimator was given: its training prior on δC9 and whether the
background fraction was fixed or free for it (which Cramér–Rao bound it is compared with).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hepc9.errors import DataError
from hepc9.evaluate.belts import neyman_intervals
from hepc9.evaluate.metrics import (
    LinearityResult,
    PointSummary,
    coverage,
    linearity_fit,
    summarise_point,
)

__all__ = ["FRACTION_MODES", "EnsembleResult", "summarise_ensemble"]

#: How the background fraction enters an estimator: known (``fixed``) or a nuisance (``free``).
FRACTION_MODES: tuple[str, ...] = ("fixed", "free")

Intervals = dict[float, list[tuple[float, float]]]


def _intervals_to_json(iv: Intervals | None) -> dict[str, list[list[float | None]]] | None:
    if iv is None:
        return None
    return {repr(t): [[None if math.isnan(a) else a, None if math.isnan(b) else b]
                      for a, b in pairs] for t, pairs in iv.items()}


def _intervals_from_json(d: Mapping[str, Any] | None) -> Intervals | None:
    if d is None:
        return None
    return {float(t): [(math.nan if a is None else float(a), math.nan if b is None else float(b))
                       for a, b in pairs] for t, pairs in d.items()}


def _pairs(lo: np.ndarray, hi: np.ndarray) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in zip(np.ravel(lo), np.ravel(hi), strict=True)]


@dataclass(frozen=True, slots=True)
class EnsembleResult:
    """One estimator's performance over a grid of true values.

    Attributes
    ----------
    method : str
        Estimator name (``fit``, ``resnet3d``, ``deepsets``, ``event`` ...).
    events_per_set : int
        Events per pseudo-experiment.
    points : tuple of PointSummary
        One summary per true value, sorted by truth.
    seen : tuple of bool
        Whether each true value was seen in training: a training label of a label grid
        (unseen values lie between them), or inside the range of a continuous training prior.
    linearity : LinearityResult or None
        Straight-line fit of mean versus truth over all points (None with < 3 points).
    coverage : tuple of float or None
        Per point, the fraction of reported intervals containing the truth (None when the
        estimator reports no intervals).
    coverage_err : tuple of float or None
        Binomial errors of ``coverage``.
    predictions : dict
        Raw predictions per truth (kept for histograms), ``{truth: list}``.
    intervals : dict or None
        The reported interval of every pseudo-experiment, ``{truth: [(lo, hi), ...]}`` in the
        order of ``predictions``.
    neyman_intervals : dict or None
        Held-out Neyman intervals, same layout (``nan`` edges: no acceptance region).
    neyman_coverage, neyman_coverage_err : tuple of float or None
        Their coverage per point and its binomial error.
    prior : (float, float) or None
        Range of the δC9 training prior (None: not trained, e.g. the likelihood fit).
    fraction : str or None
        ``"fixed"`` or ``"free"``: whether the background fraction is known to the estimator
        or a nuisance for it; None without background (generator level) or unknown.
    common_error : tuple of float or None
        Per point, the error of the bias common to all its pseudo-experiments (auxiliary
        samples shared by the ensemble, e.g. the detector-level fit's efficiency sample and
        sideband template); it does not average down with the number of sets.  None when
        the estimator shares no such sample or does not report it.
    """

    method: str
    events_per_set: int
    points: tuple[PointSummary, ...]
    seen: tuple[bool, ...]
    linearity: LinearityResult | None
    coverage: tuple[float, ...] | None = None
    coverage_err: tuple[float, ...] | None = None
    predictions: dict[float, list[float]] = field(default_factory=dict)
    intervals: Intervals | None = None
    neyman_intervals: Intervals | None = None
    neyman_coverage: tuple[float, ...] | None = None
    neyman_coverage_err: tuple[float, ...] | None = None
    prior: tuple[float, float] | None = None
    fraction: Literal["fixed", "free"] | None = None
    common_error: tuple[float, ...] | None = None

    def at(self, truth: float, *, tol: float = 1e-9) -> PointSummary:
        """Return the summary at ``truth``."""
        return self.points[self.index(truth, tol=tol)]

    def index(self, truth: float, *, tol: float = 1e-9) -> int:
        """Return the position of ``truth`` in :attr:`points`."""
        for i, p in enumerate(self.points):
            if abs(p.truth - truth) <= tol:
                return i
        raise DataError(f"{self.method}: no pseudo-experiments at truth {truth:g}; "
                        f"available: {[p.truth for p in self.points]}")

    def to_dict(self) -> dict[str, Any]:
        """Return plain data."""
        def opt(v: tuple[float, ...] | None) -> list[float] | None:
            return None if v is None else list(v)

        return {
            "method": self.method,
            "events_per_set": self.events_per_set,
            "points": [p.to_dict() for p in self.points],
            "seen": list(self.seen),
            "linearity": self.linearity.to_dict() if self.linearity else None,
            "coverage": opt(self.coverage),
            "coverage_err": opt(self.coverage_err),
            "predictions": {repr(k): v for k, v in self.predictions.items()},
            "intervals": _intervals_to_json(self.intervals),
            "neyman_intervals": _intervals_to_json(self.neyman_intervals),
            "neyman_coverage": opt(self.neyman_coverage),
            "neyman_coverage_err": opt(self.neyman_coverage_err),
            "prior": None if self.prior is None else list(self.prior),
            "fraction": self.fraction,
            "common_error": opt(self.common_error),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnsembleResult:
        """Inverse of :meth:`to_dict` (files written before intervals were stored read too)."""
        def opt(key: str) -> tuple[float, ...] | None:
            return tuple(float(x) for x in d[key]) if d.get(key) is not None else None

        lin = d.get("linearity")
        prior = d.get("prior")
        return cls(
            method=d["method"],
            events_per_set=int(d["events_per_set"]),
            points=tuple(PointSummary.from_dict(p) for p in d["points"]),
            seen=tuple(bool(s) for s in d["seen"]),
            linearity=LinearityResult(**lin) if lin else None,
            coverage=opt("coverage"),
            coverage_err=opt("coverage_err"),
            predictions={float(k): list(v) for k, v in d.get("predictions", {}).items()},
            intervals=_intervals_from_json(d.get("intervals")),
            neyman_intervals=_intervals_from_json(d.get("neyman_intervals")),
            neyman_coverage=opt("neyman_coverage"),
            neyman_coverage_err=opt("neyman_coverage_err"),
            prior=None if prior is None else (float(prior[0]), float(prior[1])),
            fraction=d.get("fraction"),
            common_error=opt("common_error"),
        )


def summarise_ensemble(
    method: str,
    predictions: Mapping[float, np.ndarray],
    *,
    events_per_set: int,
    seen_labels: Sequence[float] | np.ndarray | None = None,
    seen_range: tuple[float, float] | None = None,
    intervals: Mapping[float, tuple[np.ndarray, np.ndarray]] | None = None,
    prior: tuple[float, float] | None = None,
    fraction: Literal["fixed", "free"] | None = None,
    common_error: Mapping[float, float] | None = None,
) -> EnsembleResult:
    """Summarise an estimator's predictions per true value.

    Parameters
    ----------
    method : str
        Estimator name.
    predictions : mapping of float to numpy.ndarray
        True value → predictions of independent pseudo-experiments.
    events_per_set : int
        Events per pseudo-experiment.
    seen_labels : sequence of float, optional
        Training labels of a label grid; truths not in it are marked unseen.  ``None`` (and
        no ``seen_range``): all seen.
    seen_range : (float, float), optional
        Range of a continuous training prior; truths outside it are marked unseen (instead
        of ``seen_labels``).
    intervals : mapping of float to (lower, upper), optional
        Reported intervals per pseudo-experiment (stored, and their coverage computed).
    prior : (float, float), optional
        Range of the δC9 training prior.
    fraction : {"fixed", "free"}, optional
        Background fraction known to the estimator or free for it.
    common_error : mapping of float to float, optional
        True value → error of the bias shared by all its pseudo-experiments (≥ 0).

    Returns
    -------
    EnsembleResult
        With held-out Neyman intervals whenever the ensemble allows them (2 or more truths,
        4 or more sets each).
    """
    if not predictions:
        raise DataError(f"{method}: no predictions to summarise")
    if fraction is not None and fraction not in FRACTION_MODES:
        raise DataError(f"{method}: background fraction mode '{fraction}' is not one of "
                        f"{', '.join(FRACTION_MODES)}")
    if prior is not None and not float(prior[0]) < float(prior[1]):
        raise DataError(f"{method}: training prior {tuple(prior)} is not an interval")
    truths = sorted(float(t) for t in predictions)
    values = {t: np.asarray(predictions[t], dtype=np.float64).ravel() for t in truths}
    points = tuple(summarise_point(values[t], t) for t in truths)
    if seen_labels is not None and seen_range is not None:
        raise DataError(f"{method}: give training labels or a training prior range, not both")
    if seen_range is not None:
        lo, hi = float(seen_range[0]), float(seen_range[1])
        if not lo < hi:
            raise DataError(f"{method}: training prior {tuple(seen_range)} is not an interval")
        seen = tuple(lo - 1e-9 <= t <= hi + 1e-9 for t in truths)
    elif seen_labels is None:
        seen = tuple(True for _ in truths)
    else:
        grid = np.asarray(seen_labels, dtype=np.float64)
        seen = tuple(bool(np.any(np.abs(grid - t) < 1e-9)) for t in truths)
    lin = None
    if len(points) >= 3:
        errs = [max(p.bias_err, 1e-12) for p in points]
        lin = linearity_fit([p.truth for p in points], [p.mean for p in points], errs)
    cov = cov_err = stored = None
    if intervals is not None:
        by_truth = {float(t): v for t, v in intervals.items()}
        pairs = [coverage(t, *by_truth[t]) for t in truths]
        cov = tuple(p for p, _ in pairs)
        cov_err = tuple(e for _, e in pairs)
        stored = {t: _pairs(*by_truth[t]) for t in truths}
    common = None
    if common_error is not None:
        by_t = {float(t): float(c) for t, c in common_error.items()}
        if any(t not in by_t for t in truths) or any(
                not (math.isfinite(c) and c >= 0) for c in by_t.values()):
            raise DataError(f"{method}: common errors must be finite, ≥ 0 and given for "
                            f"every truth {truths}; got {by_t}")
        common = tuple(by_t[t] for t in truths)
    ney = neyman_intervals(values)
    n_iv = n_cov = n_err = None
    if ney is not None:
        n_iv = {t: _pairs(*ney[t]) for t in truths}
        npairs = [coverage(t, *ney[t]) for t in truths]
        n_cov = tuple(p for p, _ in npairs)
        n_err = tuple(e for _, e in npairs)
    return EnsembleResult(
        method=method,
        events_per_set=int(events_per_set),
        points=points,
        seen=seen,
        linearity=lin,
        coverage=cov,
        coverage_err=cov_err,
        predictions={t: [float(v) for v in values[t]] for t in truths},
        intervals=stored,
        neyman_intervals=n_iv,
        neyman_coverage=n_cov,
        neyman_coverage_err=n_err,
        prior=None if prior is None else (float(prior[0]), float(prior[1])),
        fraction=fraction,
        common_error=common,
    )
