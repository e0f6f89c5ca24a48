"""Summaries of one estimator over labelled ensembles of pseudo-experiments."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.evaluate.metrics import (
    LinearityResult,
    PointSummary,
    coverage,
    linearity_fit,
    summarise_point,
)

__all__ = ["EnsembleResult", "evaluate_estimator", "summarise_ensemble"]


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
        Whether each true value was a training label (unseen values lie between them).
    linearity : LinearityResult or None
        Straight-line fit of mean versus truth over all points (None with < 3 points).
    coverage : tuple of float or None
        Per point, the fraction of reported intervals containing the truth.
    coverage_err : tuple of float or None
        Binomial errors of ``coverage``.
    predictions : dict
        Raw predictions per truth (kept for histograms), ``{truth: list}``.
    """

    method: str
    events_per_set: int
    points: tuple[PointSummary, ...]
    seen: tuple[bool, ...]
    linearity: LinearityResult | None
    coverage: tuple[float, ...] | None = None
    coverage_err: tuple[float, ...] | None = None
    predictions: dict[float, list[float]] = field(default_factory=dict)

    def at(self, truth: float, *, tol: float = 1e-9) -> PointSummary:
        """Return the summary at ``truth``."""
        for p in self.points:
            if abs(p.truth - truth) <= tol:
                return p
        raise DataError(f"{self.method}: no pseudo-experiments at truth {truth:g}; "
                        f"available: {[p.truth for p in self.points]}")

    def to_dict(self) -> dict[str, Any]:
        """Return plain data."""
        return {
            "method": self.method,
            "events_per_set": self.events_per_set,
            "points": [p.to_dict() for p in self.points],
            "seen": list(self.seen),
            "linearity": self.linearity.to_dict() if self.linearity else None,
            "coverage": list(self.coverage) if self.coverage is not None else None,
            "coverage_err": list(self.coverage_err) if self.coverage_err is not None else None,
            "predictions": {repr(k): v for k, v in self.predictions.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnsembleResult:
        """Inverse of :meth:`to_dict`."""
        lin = d.get("linearity")
        return cls(
            method=d["method"],
            events_per_set=int(d["events_per_set"]),
            points=tuple(PointSummary.from_dict(p) for p in d["points"]),
            seen=tuple(bool(s) for s in d["seen"]),
            linearity=LinearityResult(**lin) if lin else None,
            coverage=tuple(d["coverage"]) if d.get("coverage") is not None else None,
            coverage_err=tuple(d["coverage_err"]) if d.get("coverage_err") is not None else None,
            predictions={float(k): list(v) for k, v in d.get("predictions", {}).items()},
        )


def summarise_ensemble(
    method: str,
    predictions: Mapping[float, np.ndarray],
    *,
    events_per_set: int,
    seen_labels: Sequence[float] | None = None,
    intervals: Mapping[float, tuple[np.ndarray, np.ndarray]] | None = None,
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
        Training labels; truths not in it are marked unseen.  ``None``: all seen.
    intervals : mapping of float to (lower, upper), optional
        Reported intervals per pseudo-experiment for the coverage.

    Returns
    -------
    EnsembleResult
    """
    if not predictions:
        raise DataError(f"{method}: no predictions to summarise")
    truths = sorted(float(t) for t in predictions)
    points = tuple(summarise_point(predictions[t], t) for t in truths)
    if seen_labels is None:
        seen = tuple(True for _ in truths)
    else:
        grid = np.asarray(seen_labels, dtype=np.float64)
        seen = tuple(bool(np.any(np.abs(grid - t) < 1e-9)) for t in truths)
    lin = None
    if len(points) >= 3:
        errs = [max(p.bias_err, 1e-12) for p in points]
        lin = linearity_fit([p.truth for p in points], [p.mean for p in points], errs)
    cov = cov_err = None
    if intervals is not None:
        pairs = [coverage(t, *intervals[t]) for t in truths]
        cov = tuple(p for p, _ in pairs)
        cov_err = tuple(e for _, e in pairs)
    return EnsembleResult(
        method=method,
        events_per_set=int(events_per_set),
        points=points,
        seen=seen,
        linearity=lin,
        coverage=cov,
        coverage_err=cov_err,
        predictions={t: [float(v) for v in np.asarray(predictions[t]).ravel()] for t in truths},
    )


def evaluate_estimator(
    method: str,
    estimator: Callable[[Any], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]],
    pseudo_experiments: Mapping[float, Any],
    *,
    events_per_set: int,
    seen_labels: Sequence[float] | None = None,
) -> EnsembleResult:
    """Run an estimator over labelled pseudo-experiments and summarise it.

    Parameters
    ----------
    method : str
        Estimator name.
    estimator : callable
        ``estimator(batch) -> (values, lower, upper)`` for the pseudo-experiments of one true
        value; ``lower``/``upper`` may be ``None`` when it reports no intervals.
    pseudo_experiments : mapping of float to object
        True value → the inputs of its pseudo-experiments (whatever the estimator takes).
    events_per_set : int
        Events per pseudo-experiment.
    seen_labels : sequence of float, optional
        Training labels.

    Returns
    -------
    EnsembleResult
    """
    preds: dict[float, np.ndarray] = {}
    intervals: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for truth, batch in pseudo_experiments.items():
        values, lower, upper = estimator(batch)
        preds[float(truth)] = np.asarray(values, dtype=np.float64)
        if lower is not None and upper is not None:
            intervals[float(truth)] = (np.asarray(lower), np.asarray(upper))
    use_intervals = intervals if len(intervals) == len(preds) else None
    return summarise_ensemble(method, preds, events_per_set=events_per_set,
                              seen_labels=seen_labels, intervals=use_intervals)
