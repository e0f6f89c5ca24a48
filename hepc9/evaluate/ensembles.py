"""Summaries of one estimator over labelled ensembles of pseudo-experiments.

:func:`run_pseudo_experiments` is the one runner of the evaluation: it hands batches of
pseudo-experiments (any objects the estimator understands, e.g. chunk specifications that
regenerate their events) to an estimator, serially or through a caller-supplied ``mapper``
(a process pool, dask), gathers the estimates per true value and summarises them
(:func:`summarise_ensemble`, plus pulls and invalid-fit counts when the estimator reports
errors and validity).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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

__all__ = [
    "EnsembleResult",
    "EnsembleRun",
    "Estimates",
    "evaluate_estimator",
    "run_pseudo_experiments",
    "summarise_ensemble",
]


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
    seen_labels: Sequence[float] | np.ndarray | None = None,
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


@dataclass(frozen=True, slots=True)
class Estimates:
    """What an estimator reports for a batch of pseudo-experiments.

    Attributes
    ----------
    values : ndarray, shape (S,)
        Point estimates.
    lower, upper : ndarray, shape (S,), optional
        Reported interval per pseudo-experiment.
    errors : ndarray, shape (S,), optional
        Reported standard errors (for pulls).
    valid : ndarray, shape (S,), optional
        1 where the estimate is valid (a converged fit), 0 elsewhere.
    """

    values: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    errors: np.ndarray | None = None
    valid: np.ndarray | None = None

    @classmethod
    def from_output(cls, out: Any) -> Estimates:
        """Accept an :class:`Estimates`, a tuple ``(values, lower, upper)`` or a mapping.

        Parameters
        ----------
        out : Estimates, tuple or mapping
            A mapping gives ``value`` (or ``dc9``) and optionally ``lower``, ``upper``,
            ``error`` and ``valid`` (as :func:`hepc9.pipeline.pseudo.run_fit_chunk` and
            :func:`hepc9.train.predict` return them).

        Returns
        -------
        Estimates
        """
        if isinstance(out, Estimates):
            return out

        def arr(v: Any) -> np.ndarray | None:
            return None if v is None else np.asarray(v, dtype=np.float64)

        if isinstance(out, Mapping):
            values = out["value"] if "value" in out else out["dc9"]
            return cls(np.asarray(values, dtype=np.float64), arr(out.get("lower")),
                       arr(out.get("upper")), arr(out.get("error")), arr(out.get("valid")))
        values, lower, upper = out
        return cls(np.asarray(values, dtype=np.float64), arr(lower), arr(upper))


@dataclass(frozen=True, slots=True)
class EnsembleRun:
    """An estimator's ensemble summary with the pull and validity statistics it allows.

    Attributes
    ----------
    result : EnsembleResult
        The summary.
    pulls : dict or None
        Per truth (``repr`` key) the mean and width (ddof=1) of (value − truth) / error, when
        the estimator reports errors.
    invalid : int or None
        Invalid estimates (failed fits), when the estimator reports validity.
    """

    result: EnsembleResult
    pulls: dict[str, dict[str, float]] | None = None
    invalid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return plain data: :meth:`EnsembleResult.to_dict` plus ``pulls``/``invalid_fits``."""
        out = self.result.to_dict()
        if self.pulls is not None:
            out["pulls"] = self.pulls
        if self.invalid is not None:
            out["invalid_fits"] = self.invalid
        return out


def _serial_map(estimator: Callable[[Any], Any], batches: Sequence[Any],
                progress: Callable[[int], None] | None) -> Iterator[Any]:
    for i, batch in enumerate(batches):
        out = estimator(batch)
        if progress is not None:
            progress(i + 1)
        yield out


def run_pseudo_experiments(
    method: str,
    estimator: Callable[[Any], Any],
    pseudo_experiments: Mapping[float, Any] | Iterable[tuple[float, Any]],
    *,
    events_per_set: int,
    seen_labels: Sequence[float] | np.ndarray | None = None,
    mapper: Callable[[Callable[[Any], Any], list[Any]], Iterable[Any]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EnsembleRun:
    """Run an estimator over batches of labelled pseudo-experiments and summarise it.

    Parameters
    ----------
    method : str
        Estimator name.
    estimator : callable
        ``estimator(batch)`` → :class:`Estimates`, ``(values, lower, upper)`` or a mapping
        (see :meth:`Estimates.from_output`).
    pseudo_experiments : mapping of float to batch, or iterable of (truth, batch)
        The batches; a truth may have several (chunks), gathered in order.
    events_per_set : int
        Events per pseudo-experiment.
    seen_labels : sequence of float, optional
        Training labels (truths off them are marked unseen).
    mapper : callable, optional
        ``mapper(estimator, batches)`` → outputs in the order of ``batches`` (e.g. over a
        process pool); default: serial, in this process.
    progress : callable, optional
        ``progress(done)`` after each batch of the serial default.

    Returns
    -------
    EnsembleRun
        Intervals enter the summary when every batch reports them, pulls when every batch
        reports errors, the invalid count when every batch reports validity.
    """
    pairs = list(pseudo_experiments.items() if isinstance(pseudo_experiments, Mapping)
                 else pseudo_experiments)
    batches = [b for _, b in pairs]
    outputs = (mapper(estimator, batches) if mapper is not None
               else _serial_map(estimator, batches, progress))
    per_truth: dict[float, list[Estimates]] = {}
    for (truth, _), out in zip(pairs, outputs, strict=True):
        per_truth.setdefault(float(truth), []).append(Estimates.from_output(out))
    everything = [e for es in per_truth.values() for e in es]

    def joined(name: str) -> dict[float, np.ndarray] | None:
        if not everything or any(getattr(e, name) is None for e in everything):
            return None
        return {t: np.concatenate([getattr(e, name) for e in es]) for t, es in per_truth.items()}

    values = joined("values")
    if values is None:
        raise DataError(f"{method}: no pseudo-experiments to evaluate")
    lower, upper = joined("lower"), joined("upper")
    intervals = None
    if lower is not None and upper is not None:
        intervals = {t: (lower[t], upper[t]) for t in values}
    result = summarise_ensemble(method, values, events_per_set=events_per_set,
                                seen_labels=seen_labels, intervals=intervals)
    errors = joined("errors")
    pulls = None
    if errors is not None:
        pulls = {}
        for t, v in values.items():
            p = (v - t) / errors[t]
            pulls[repr(t)] = {"mean": float(p.mean()), "width": float(p.std(ddof=1))}
    invalid: int | None = None
    if joined("valid") is not None:
        flags = [np.asarray(e.valid) for e in everything]
        invalid = sum(int(f.size - f.sum()) for f in flags)
    return EnsembleRun(result, pulls, invalid)


def evaluate_estimator(
    method: str,
    estimator: Callable[[Any], Any],
    pseudo_experiments: Mapping[float, Any] | Iterable[tuple[float, Any]],
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
        value; ``lower``/``upper`` may be ``None`` when it reports no intervals (or a mapping,
        see :meth:`Estimates.from_output`).
    pseudo_experiments : mapping of float to object, or iterable of (truth, object)
        True value → the inputs of its pseudo-experiments (whatever the estimator takes).
    events_per_set : int
        Events per pseudo-experiment.
    seen_labels : sequence of float, optional
        Training labels.

    Returns
    -------
    EnsembleResult
        The summary of :func:`run_pseudo_experiments`.
    """
    return run_pseudo_experiments(method, estimator, pseudo_experiments,
                                  events_per_set=events_per_set,
                                  seen_labels=seen_labels).result
