"""Comparison tables: each method's slope, bias, resolution against its bound; σ versus N.

Per row (method, level, N, truth): the response slope of the linearity fit, the bias, the
raw spread σ and the slope-corrected resolution σ/slope, both over the Cramér–Rao bound matched
to what the estimator is given (background fraction fixed or free), √MSE, and the coverage of
the stored and of the Neyman intervals with binomial errors.  Rows of trained estimators at
truths near the edge of their training prior are kept but flagged out of the headline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.evaluate.metrics import resolution
from hepc9.evaluate.results import EnsembleResult

__all__ = [
    "BOUND_WORDS",
    "EDGE_SIGMAS",
    "comparison_markdown",
    "comparison_rows",
    "comparison_text",
    "readme_markdown",
    "sensitivity_scaling",
]


#: Half-width of the training prior, in σ_CRB, that an evaluated truth must keep to each edge.
EDGE_SIGMAS = 3.0

#: Words of the bound a row is compared with, by background-fraction mode.
BOUND_WORDS = {"free": "fraction free", "fixed": "fraction fixed", None: "no background"}


def _select_bound(
    res: EnsembleResult, key: tuple[float, int], crb: Mapping[tuple[float, int], float],
    bounds: Mapping[str, Mapping[tuple[float, int], float]] | None,
) -> tuple[float | None, str | None]:
    """σ_CRB matched to what the estimator is given, and the mode it corresponds to."""
    if bounds and res.fraction is not None:
        matched = bounds.get(res.fraction, {}).get(key)
        if matched:
            return float(matched), res.fraction
    value = crb.get(key)
    return (float(value) if value else None), (None if not bounds else "free")


def _coverage_at(cov: tuple[float, ...] | None, err: tuple[float, ...] | None,
                 i: int) -> tuple[float | None, float | None]:
    if cov is None or err is None:
        return None, None
    return float(cov[i]), float(err[i])


def _mean_halfwidth(iv: Mapping[float, Sequence[tuple[float, float]]] | None,
                    truth: float) -> float | None:
    if iv is None or truth not in iv:
        return None
    w = np.array([b - a for a, b in iv[truth]], dtype=np.float64)
    w = w[np.isfinite(w)]
    return float(0.5 * w.mean()) if w.size else None


def _edge(res: EnsembleResult, truth: float, bound: float | None,
          edge_sigmas: float) -> tuple[float | None, bool, str]:
    """Return the distance (σ_CRB) to the nearer prior edge, headline flag and note."""
    if res.prior is None:
        return None, True, ""
    lo, hi = res.prior
    if not bound:
        return None, True, "prior edge not checked (no bound)"
    dist = min(truth - lo, hi - truth) / bound
    if dist < edge_sigmas:
        return dist, False, (f"within {edge_sigmas:g} σ_CRB of the training prior "
                             f"[{lo:+.2f}, {hi:+.2f}]")
    return dist, True, ""


def comparison_rows(
    results: Sequence[EnsembleResult],
    crb: Mapping[tuple[float, int], float],
    *,
    truths: Sequence[float] = (0.0, -0.82),
    bounds: Mapping[str, Mapping[tuple[float, int], float]] | None = None,
    interval_kind: str = "likelihood",
    edge_sigmas: float = EDGE_SIGMAS,
) -> list[dict[str, Any]]:
    """Build the comparison table as rows of plain data.

    Parameters
    ----------
    results : sequence of EnsembleResult
        One per (method, events per set).
    crb : mapping of (truth, events_per_set) to float
        Cramér–Rao bound σ_CRB for N events at that truth (the bound of estimators whose
        background-fraction mode is unknown; with ``bounds``, the fraction-free one).
    truths : sequence of float
        True values to tabulate (those missing from a result are skipped).
    bounds : mapping of str to mapping, optional
        Background-fraction mode (``"fixed"``, ``"free"``) → bounds as ``crb``: each row uses
        the one of its estimator's :attr:`EnsembleResult.fraction`.
    interval_kind : {"likelihood", "neyman"}
        Which coverage fills the ``coverage`` column: the estimator's stored intervals or the
        held-out Neyman intervals (both are in every row).
    edge_sigmas : float
        A row of a trained estimator whose truth lies closer than this many σ_CRB to an edge
        of its training prior is left out of the headline (``headline`` false, ``note``).

    Returns
    -------
    list of dict
        Keys ``method events_per_set truth n_sets mean sigma sigma_l sigma_r std std_err bias
        bias_err bias_common_err rmse rmse_err sigma_crb bound crb_fraction slope slope_err
        sigma_corrected sigma_corrected_err sigma_over_crb sigma_over_crb_err corrected_over_crb
        corrected_over_crb_err rmse_over_crb rmse_over_crb_err coverage_likelihood
        coverage_likelihood_err coverage_neyman coverage_neyman_err interval_kind coverage
        coverage_err halfwidth_likelihood halfwidth_neyman prior edge_sigmas headline note``.
        ``sigma_over_crb`` is the raw σ/σ_CRB; ``corrected_over_crb`` divides σ by the
        response slope of the linearity fit first: an estimator pulled towards the middle of
        its training range (slope < 1) can have σ < σ_CRB, its resolution σ/slope cannot
        beat the bound.  Coverage is None (n/a) when the estimator reports no intervals.
        ``bias_common_err`` is the error of the bias shared by the whole ensemble
        (:attr:`EnsembleResult.common_error`; None when there is none), shown beside the
        statistical ``bias_err``.
    """
    if interval_kind not in ("likelihood", "neyman"):
        raise DataError(f"interval kind '{interval_kind}' is not 'likelihood' or 'neyman'")
    rows: list[dict[str, Any]] = []
    for res in results:
        for t in truths:
            try:
                i = res.index(t)
            except DataError:
                continue
            p = res.points[i]
            key = (float(t), int(res.events_per_set))
            bound, mode = _select_bound(res, key, crb, bounds)
            reso = resolution(p, res.linearity)
            rmse = float(np.sqrt(p.mse))
            # δ√MSE = δMSE / (2√MSE); None for summaries written without mse_err
            rmse_err = (float(p.mse_err) / (2.0 * rmse)
                        if rmse > 0 and np.isfinite(p.mse_err) else None)
            lik, lik_err = _coverage_at(res.coverage, res.coverage_err, i)
            ney, ney_err = _coverage_at(res.neyman_coverage, res.neyman_coverage_err, i)
            common = None if res.common_error is None else float(res.common_error[i])
            dist, headline, note = _edge(res, p.truth, bound, edge_sigmas)
            chosen = (lik, lik_err) if interval_kind == "likelihood" else (ney, ney_err)
            rows.append({
                "method": res.method,
                "events_per_set": res.events_per_set,
                "truth": p.truth,
                "n_sets": p.n,
                "mean": p.mean,
                "sigma": p.sigma,
                "sigma_l": p.sigma_l,
                "sigma_r": p.sigma_r,
                "std": p.std,
                "std_err": reso.sigma_err,
                "bias": p.bias,
                "bias_err": p.bias_err,
                "bias_common_err": common,
                "rmse": rmse,
                "rmse_err": rmse_err,
                "sigma_crb": bound,
                "bound": BOUND_WORDS[mode],
                "crb_fraction": mode,
                "slope": reso.slope,
                "slope_err": reso.slope_err,
                "sigma_corrected": reso.corrected,
                "sigma_corrected_err": reso.corrected_err,
                **reso.over(bound),
                "rmse_over_crb": (rmse / bound) if bound else None,
                "rmse_over_crb_err": (rmse_err / bound) if bound and rmse_err is not None
                else None,
                "coverage_likelihood": lik,
                "coverage_likelihood_err": lik_err,
                "coverage_neyman": ney,
                "coverage_neyman_err": ney_err,
                "interval_kind": interval_kind,
                "coverage": chosen[0],
                "coverage_err": chosen[1],
                "halfwidth_likelihood": _mean_halfwidth(res.intervals, p.truth),
                "halfwidth_neyman": _mean_halfwidth(res.neyman_intervals, p.truth),
                "prior": None if res.prior is None else list(res.prior),
                "edge_sigmas": dist,
                "headline": headline,
                "note": note,
            })
    rows.sort(key=lambda r: (r["truth"], -r["events_per_set"], r["method"]))
    return rows


def _pm(value: float | None, err: float | None, fmt: str) -> str:
    if value is None:
        return "–"
    return f"{value:{fmt}}" + (f" ± {err:{fmt.lstrip('+')}}" if err is not None else "")


def _cells(r: Mapping[str, Any]) -> list[str]:
    return [
        _pm(r.get("slope"), r.get("slope_err"), ".3f"),
        _pm(r["bias"], r["bias_err"], "+.4f")
        + (f" (± {r['bias_common_err']:.4f} common)" if r.get("bias_common_err") is not None
           else ""),
        f"{r['std']:.4f}",
        f"{r['sigma_crb']:.4f}" if r.get("sigma_crb") else "–",
        str(r.get("bound", "–")),
        _pm(r.get("corrected_over_crb"), r.get("corrected_over_crb_err"), ".2f"),
        _pm(r.get("sigma_over_crb"), r.get("sigma_over_crb_err"), ".2f"),
        _pm(r.get("rmse_over_crb"), r.get("rmse_over_crb_err"), ".2f")
        if r.get("rmse_over_crb") else "–",
        _pm(r.get("coverage_likelihood"), r.get("coverage_likelihood_err"), ".2f")
        if r.get("coverage_likelihood") is not None else "n/a",
        _pm(r.get("coverage_neyman"), r.get("coverage_neyman_err"), ".2f")
        if r.get("coverage_neyman") is not None else "n/a",
    ]


_HEAD = ("slope | bias | σ (std) | σ_CRB | bound | **(σ/slope)/σ_CRB** | raw σ/σ_CRB | "
         "√MSE/σ_CRB | coverage (stored) | coverage (Neyman) |")


def comparison_markdown(rows: Sequence[Mapping[str, Any]], *,
                        margin: float = EDGE_SIGMAS) -> str:
    """Render comparison rows as Markdown: headline rows, then the excluded ones.

    Parameters
    ----------
    rows : sequence of mapping
        Output of :func:`comparison_rows`.
    margin : float
        The prior-edge margin (σ_CRB) the rows were judged with (for the caption).

    Returns
    -------
    str
        The headline column is the slope-corrected ratio (σ/slope)/σ_CRB; raw σ/σ_CRB is kept
        beside it.  Rows whose truth is within the edge margin of the estimator's training
        prior follow in a second table.
    """
    head = ("| δC9 | N/set | method | sets | " + _HEAD + "\n"
            "|" + " ---: | ---: | :--- | ---: |" + " ---: |" * 4 + " :--- |"
            + " ---: |" * 5 + "\n")

    def line(r: Mapping[str, Any]) -> str:
        return (f"| {r['truth']:+.2f} | {r['events_per_set']} | {r['method']} | {r['n_sets']} | "
                + " | ".join(_cells(r)) + " |")

    main = [line(r) for r in rows if r.get("headline", True)]
    out = head + "\n".join(main) + "\n"
    excluded = [r for r in rows if not r.get("headline", True)]
    if excluded:
        out += ("\nExcluded from the headline (truth closer than "
                f"{margin:g} σ_CRB to an edge of the estimator's training prior):\n\n"
                + head + "\n".join(line(r) for r in excluded) + "\n")
    return out


def readme_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render the compact README table: headline rows of every level, corrected ratio first.

    Parameters
    ----------
    rows : sequence of mapping
        Rows of :func:`comparison_rows` with a ``level`` key.

    Returns
    -------
    str
    """
    head = ("| level | δC9 | N/set | method | slope | bias | (σ/slope)/σ_CRB | raw σ/σ_CRB | "
            "√MSE/σ_CRB | coverage | bound |\n"
            "| :--- | ---: | ---: | :--- |" + " ---: |" * 6 + " :--- |\n")
    lines = []
    for r in rows:
        if not r.get("headline", True):
            continue
        c = _cells(r)
        cov = c[8] if r.get("interval_kind", "likelihood") == "likelihood" else c[9]
        lines.append(f"| {r.get('level', '')} | {r['truth']:+.2f} | {r['events_per_set']} | "
                     f"{r['method']} | {c[0]} | {c[1]} | {c[5]} | {c[6]} | {c[7]} | {cov} | "
                     f"{c[4]} |")
    return head + "\n".join(lines) + "\n"


def comparison_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render comparison rows as a fixed-width terminal table (headline rows first).

    Parameters
    ----------
    rows : sequence of mapping
        Output of :func:`comparison_rows`.

    Returns
    -------
    str
        One line per row: truth, N, method, mean, bias ± error, σ_CRB, slope ± error, the
        slope-corrected (σ/slope)/σ_CRB ± error, the raw σ/σ_CRB, √MSE/σ_CRB and the coverage
        of the intervals heading the table; rows near a training-prior edge are marked.
    """
    head = (f"{'δC9':>6s} {'N':>6s} {'method':>11s} {'mean':>8s} {'bias':>17s} {'σ_CRB':>7s} "
            f"{'slope':>13s} {'(σ/slope)/σ_CRB':>15s} {'raw σ/σ_CRB':>11s} {'√MSE/σ_CRB':>11s} "
            f"{'coverage':>11s}")
    lines = [head]
    ordered = sorted(rows, key=lambda r: not r.get("headline", True))
    for r in ordered:
        c = _cells(r)
        cov = c[8] if r.get("interval_kind", "likelihood") == "likelihood" else c[9]
        flag = "" if r.get("headline", True) else "  (near prior edge)"
        lines.append(f"{r['truth']:+6.2f} {r['events_per_set']:6d} {r['method']:>11s} "
                     f"{r['mean']:+8.4f} {c[1]:>17s} {c[3]:>7s} {c[0]:>13s} {c[5]:>15s} "
                     f"{c[6]:>11s} {c[7]:>11s} {cov:>11s}{flag}")
    return "\n".join(lines)


def sensitivity_scaling(events_per_set: Sequence[int], sigmas: Sequence[float]) -> dict[str, float]:
    """Fit σ ∝ N^(−α) in log–log space; α = 0.5 for an efficient, unbiased estimator.

    Parameters
    ----------
    events_per_set : sequence of int
        Set sizes N (at least 2 distinct values).
    sigmas : sequence of float
        Measured σ at each N (> 0).

    Returns
    -------
    dict
        ``alpha`` and ``amplitude`` (σ at N = 1 extrapolated).
    """
    n = np.asarray(events_per_set, dtype=np.float64)
    s = np.asarray(sigmas, dtype=np.float64)
    if n.size < 2 or np.unique(n).size < 2:
        raise DataError("σ-versus-N scaling needs at least two different set sizes")
    if np.any(s <= 0) or np.any(n <= 0):
        raise DataError("set sizes and σ must be positive")
    slope, intercept = np.polyfit(np.log(n), np.log(s), 1)
    return {"alpha": float(-slope), "amplitude": float(np.exp(intercept))}
