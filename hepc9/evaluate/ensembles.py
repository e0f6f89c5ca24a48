"""Summaries of one estimator over labelled ensembles of pseudo-experiments.

:func:`run_pseudo_experiments` is the one runner of the evaluation: it hands batches of
pseudo-experiments (any objects the estimator understands, e.g. chunk specifications that
regenerate their events) to an estimator, serially or through a caller-supplied ``mapper``
(a process pool, dask) — both through the one task dispatcher :func:`hepc9.runner.map_tasks`
— gathers the estimates per true value and summarises them
(:func:`summarise_ensemble`, plus pulls and invalid-fit counts when the estimator reports
errors and validity).  :class:`EnsembleResult` and :func:`summarise_ensemble` live in
:mod:`hepc9.evaluate.results` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hepc9.errors import DataError
from hepc9.evaluate.results import EnsembleResult, summarise_ensemble
from hepc9.runner import map_tasks

__all__ = [
    "EnsembleResult",
    "EnsembleRun",
    "Estimates",
    "evaluate_estimator",
    "run_pseudo_experiments",
    "summarise_ensemble",
]


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
    common : ndarray, shape (S,), optional
        Error each estimate shares with every other of its ensemble (e.g. from one
        efficiency sample and one sideband template serving all pseudo-experiments): a
        systematic error of the ensemble's bias that more pseudo-experiments do not reduce.
    """

    values: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    errors: np.ndarray | None = None
    valid: np.ndarray | None = None
    common: np.ndarray | None = None

    @classmethod
    def from_output(cls, out: Any) -> Estimates:
        """Accept an :class:`Estimates`, a tuple ``(values, lower, upper)`` or a mapping.

        Parameters
        ----------
        out : Estimates, tuple or mapping
            A mapping gives ``value`` (or ``dc9``) and optionally ``lower``, ``upper``,
            ``error``, ``valid`` and ``common_error`` (as
            :func:`hepc9.pipeline.pseudo.run_fit_chunk` and :func:`hepc9.train.predict` return
            them).

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
                       arr(out.get("upper")), arr(out.get("error")), arr(out.get("valid")),
                       arr(out.get("common_error")))
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


def run_pseudo_experiments(
    method: str,
    estimator: Callable[[Any], Any],
    pseudo_experiments: Mapping[float, Any] | Iterable[tuple[float, Any]],
    *,
    events_per_set: int,
    seen_labels: Sequence[float] | np.ndarray | None = None,
    seen_range: tuple[float, float] | None = None,
    mapper: Callable[[Callable[[Any], Any], list[Any]], Iterable[Any]] | None = None,
    progress: Callable[[int], None] | None = None,
    prior: tuple[float, float] | None = None,
    fraction: Literal["fixed", "free"] | None = None,
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
        Training labels of a label grid (truths off them are marked unseen).
    seen_range : (float, float), optional
        Range of a continuous training prior (truths outside it are marked unseen).
    mapper : callable, optional
        ``mapper(estimator, batches)`` → outputs in the order of ``batches`` (e.g. over a
        process pool, e.g. :func:`hepc9.runner.map_tasks` on an executor); default:
        :func:`hepc9.runner.map_tasks` serially, in this process.
    progress : callable, optional
        ``progress(done)`` after each batch of the serial default.
    prior, fraction
        The estimator's training prior and background-fraction mode (see
        :func:`summarise_ensemble`).

    Returns
    -------
    EnsembleRun
        Intervals enter the summary (stored per set, with their coverage) when every batch
        reports them, pulls when every batch reports errors, the invalid count when every
        batch reports validity.
    """
    pairs = list(pseudo_experiments.items() if isinstance(pseudo_experiments, Mapping)
                 else pseudo_experiments)
    batches = [b for _, b in pairs]
    outputs = (mapper(estimator, batches) if mapper is not None
               else map_tasks(estimator, batches, progress=progress))
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
    common = joined("common")
    result = summarise_ensemble(method, values, events_per_set=events_per_set,
                                seen_labels=seen_labels, seen_range=seen_range,
                                intervals=intervals, prior=prior,
                                fraction=fraction,
                                common_error=None if common is None else
                                {t: float(np.nanmean(c)) for t, c in common.items()})
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
