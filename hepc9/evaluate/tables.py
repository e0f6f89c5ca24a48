"""Comparison tables: each method's σ, bias and σ/σ_CRB side by side; σ versus N."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.evaluate.ensembles import EnsembleResult

__all__ = ["comparison_markdown", "comparison_rows", "sensitivity_scaling"]


def comparison_rows(
    results: Sequence[EnsembleResult],
    crb: Mapping[tuple[float, int], float],
    *,
    truths: Sequence[float] = (0.0, -0.82),
) -> list[dict[str, Any]]:
    """Build the comparison table as rows of plain data.

    Parameters
    ----------
    results : sequence of EnsembleResult
        One per (method, events per set).
    crb : mapping of (truth, events_per_set) to float
        Cramér–Rao bound σ_CRB for N events at that truth.
    truths : sequence of float
        True values to tabulate (those missing from a result are skipped).

    Returns
    -------
    list of dict
        Keys ``method events_per_set truth n_sets mean sigma sigma_l sigma_r std bias bias_err
        rmse sigma_crb sigma_over_crb rmse_over_crb``.  The Cramér–Rao bound limits unbiased
        estimators: a biased one (e.g. a regression pulled towards the middle of its training
        grid) can have σ/σ_CRB < 1, which is why √MSE/σ_CRB is listed too.
    """
    rows = []
    for res in results:
        for t in truths:
            try:
                p = res.at(t)
            except DataError:
                continue
            bound = crb.get((float(t), int(res.events_per_set)))
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
                "bias": p.bias,
                "bias_err": p.bias_err,
                "rmse": float(np.sqrt(p.mse)),
                "sigma_crb": bound,
                "sigma_over_crb": (p.std / bound) if bound else None,
                "rmse_over_crb": (float(np.sqrt(p.mse)) / bound) if bound else None,
            })
    rows.sort(key=lambda r: (r["truth"], -r["events_per_set"], r["method"]))
    return rows


def comparison_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render comparison rows as a Markdown table.

    Parameters
    ----------
    rows : sequence of mapping
        Output of :func:`comparison_rows`.

    Returns
    -------
    str
    """
    head = ("| δC9 | N/set | method | sets | mean | σ (std) | σL | σR | bias | σ_CRB | σ/σ_CRB "
            "| √MSE/σ_CRB |\n"
            "|" + " ---: | ---: | :--- |" + " ---: |" * 9 + "\n")
    lines = []
    for r in rows:
        crb = f"{r['sigma_crb']:.4f}" if r.get("sigma_crb") else "–"
        ratio = f"{r['sigma_over_crb']:.2f}" if r.get("sigma_over_crb") else "–"
        rratio = f"{r['rmse_over_crb']:.2f}" if r.get("rmse_over_crb") else "–"
        lines.append(
            f"| {r['truth']:+.2f} | {r['events_per_set']} | {r['method']} | {r['n_sets']} | "
            f"{r['mean']:+.4f} | {r['std']:.4f} | {r['sigma_l']:.4f} | {r['sigma_r']:.4f} | "
            f"{r['bias']:+.4f} ± {r['bias_err']:.4f} | {crb} | {ratio} | {rratio} |"
        )
    return head + "\n".join(lines) + "\n"


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
