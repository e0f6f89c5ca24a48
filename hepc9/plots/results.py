"""Figures of the results: prediction histograms, linearity, training curves, scans, σ/σ_CRB.

Papers/002 numbering where they reproduce one: prediction histograms with μ, σL, σR (fig. 5),
linearity with √N-scaled and unscaled error bars (figs. 6–7).  Every function returns a Figure
drawn in :func:`hepc9.plots.style.figure_style`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepc9.evaluate.ensembles import EnsembleResult
from hepc9.plots.style import AXIS_LABELS, figure_style, new_figure

__all__ = ["plot_likelihood_scan", "plot_linearity", "plot_prediction_histograms",
           "plot_sigma_over_crb", "plot_training_history"]


def plot_prediction_histograms(
    result: EnsembleResult, *, truths: Sequence[float] | None = None, bins: int = 40
) -> Figure:
    """Histograms of predictions at given true values with μ, μ − σL and μ + σR marked.

    Parameters
    ----------
    result : EnsembleResult
        Ensemble with raw predictions.
    truths : sequence of float, optional
        True values to draw (default: all, at most six).
    bins : int
        Bins per histogram.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ts = list(truths) if truths is not None else [p.truth for p in result.points][:6]
    with figure_style():
        fig, axes = new_figure(1, 1)
        ax = axes[0, 0]
        for t in ts:
            p = result.at(t)
            x = np.asarray(result.predictions[p.truth])
            h, edges = np.histogram(x, bins=bins)
            art = mplhep.histplot(h, edges, ax=ax, label=rf"$\delta C_9 = {t:+.2f}$")
            color = art[0].stairs.get_edgecolor() if hasattr(art[0], "stairs") else None
            ax.axvline(p.mean, color=color, ls="-", lw=1.5)
            ax.axvline(p.mean - p.sigma_l, color=color, ls="--", lw=1)
            ax.axvline(p.mean + p.sigma_r, color=color, ls="--", lw=1)
            ax.axvline(t, color=color, ls=":", lw=1)
        ax.set_xlabel(AXIS_LABELS["dc9_pred"])
        ax.set_ylabel("pseudo-experiments")
        ax.set_title(f"{result.method}, {result.events_per_set} events/set "
                     r"(solid: $\mu$, dashed: $\mu-\sigma_L$, $\mu+\sigma_R$)", fontsize=10)
        ax.legend()
    return fig


def plot_linearity(results: Sequence[EnsembleResult], *, scaled: bool = True) -> Figure:
    """Mean prediction versus truth with σL/σR bars and the fitted response line (dashed).

    Seen and unseen labels are marked differently; the legend gives each fitted slope.

    Parameters
    ----------
    results : sequence of EnsembleResult
        One per method.
    scaled : bool
        Divide the σL/σR bars by √(number of pseudo-experiments) (the error on the mean,
        papers/002 fig. 6) or draw them unscaled (the per-set sensitivity, fig. 7).

    Returns
    -------
    matplotlib.figure.Figure
    """
    with figure_style():
        fig, axes = new_figure(1, 1)
        ax = axes[0, 0]
        lo = min(p.truth for r in results for p in r.points)
        hi = max(p.truth for r in results for p in r.points)
        ax.plot([lo, hi], [lo, hi], color="0.5", ls=":", lw=1, label="ideal")
        for k, res in enumerate(results):
            t = np.array([p.truth for p in res.points]) + 0.012 * (k - (len(results) - 1) / 2)
            mu = np.array([p.mean for p in res.points])
            div = np.array([math.sqrt(p.n) for p in res.points]) if scaled else 1.0
            err = np.vstack([[p.sigma_l for p in res.points],
                             [p.sigma_r for p in res.points]]) / div
            # σL = mean − 16 % quantile (σR alike) is negative for a distribution so skewed
            # that its mean lies outside the central 68 %: draw no bar on that side
            err = np.maximum(np.nan_to_num(err, nan=0.0), 0.0)
            seen = np.array(res.seen)
            color = f"C{k}"
            slope = ""
            if res.linearity:
                lin = res.linearity
                slope = f", slope {lin.slope:.3f} ± {lin.slope_err:.3f}"
                ax.plot([lo, hi], [lin.slope * lo + lin.intercept, lin.slope * hi + lin.intercept],
                        color=color, ls="--", lw=1)
            ax.errorbar(t[seen], mu[seen], yerr=err[:, seen], fmt="o", color=color, ms=4,
                        capsize=2, label=f"{res.method}{slope}")
            if np.any(~seen):
                ax.errorbar(t[~seen], mu[~seen], yerr=err[:, ~seen], fmt="s", mfc="white",
                            color=color, ms=4, capsize=2, label=f"{res.method} (unseen)")
        ax.set_xlabel(AXIS_LABELS["dc9_true"])
        ax.set_ylabel(AXIS_LABELS["dc9_pred"])
        which = "σ/√N" if scaled else r"$\sigma_L$, $\sigma_R$ per set"
        ax.set_title(f"error bars: {which}", fontsize=11)
        ax.legend(fontsize=9)
    return fig


def plot_training_history(history: Mapping[str, Sequence[float]], *, title: str = "") -> Figure:
    """Training and validation loss (and learning rate when recorded) per epoch.

    Parameters
    ----------
    history : mapping of str to sequence of float
        Keras-style history (``loss``, ``val_loss``, optionally ``learning_rate``).
    title : str
        Figure title (e.g. the model name).

    Returns
    -------
    matplotlib.figure.Figure
    """
    with figure_style():
        fig, axes = new_figure(1, 1)
        ax = axes[0, 0]
        for key in ("loss", "val_loss"):
            if key in history and len(history[key]):
                ep = np.arange(1, len(history[key]) + 1)
                ax.plot(ep, history[key], marker="o", ms=3, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        lr = history.get("learning_rate") or history.get("lr")
        if lr is not None and len(lr):
            ax2 = ax.twinx()
            ax2.plot(np.arange(1, len(lr) + 1), lr, color="0.5", ls="--", label="learning rate")
            ax2.set_yscale("log")
            ax2.set_ylabel("learning rate")
            ax2.set_xlabel("epoch")
        ax.legend()
        if title:
            ax.set_title(title, fontsize=11)
    return fig


def plot_likelihood_scan(
    values: np.ndarray, dnll: np.ndarray, *, parameter: str = "dc9", truth: float | None = None
) -> Figure:
    """Profile of −2Δln L versus one parameter with the 1σ and 2σ levels.

    Parameters
    ----------
    values : numpy.ndarray, shape (k,)
        Parameter values.
    dnll : numpy.ndarray, shape (k,)
        ΔNLL = NLL − NLL_min at each value.
    parameter : str
        Parameter name (for the axis label).
    truth : float, optional
        True value to mark.

    Returns
    -------
    matplotlib.figure.Figure
    """
    with figure_style():
        fig, axes = new_figure(1, 1)
        ax = axes[0, 0]
        ax.plot(values, 2 * np.asarray(dnll), color="C0", lw=2, label=r"$-2\Delta\ln L$")
        for level, name in ((1.0, r"$1\sigma$"), (4.0, r"$2\sigma$")):
            ax.axhline(level, color="0.5", ls="--", lw=1)
            ax.text(values[0], level, name, va="bottom", fontsize=10)
        if truth is not None:
            ax.axvline(truth, color="C3", ls=":", label="truth")
        label = AXIS_LABELS.get(parameter, parameter)
        ax.set_xlabel(label)
        ax.set_ylabel(r"$-2\Delta\ln L$")
        ax.set_ylim(0, max(6.0, float(np.nanmax(2 * np.asarray(dnll)))))
        ax.legend()
    return fig


def _ratio(r: Mapping[str, Any]) -> tuple[float | None, float]:
    """Slope-corrected ratio and its error, else (older rows) the raw σ/σ_CRB."""
    if r.get("corrected_over_crb") is not None:
        return float(r["corrected_over_crb"]), float(r.get("corrected_over_crb_err") or 0.0)
    if r.get("sigma_over_crb") is not None:
        return float(r["sigma_over_crb"]), float(r.get("sigma_over_crb_err") or 0.0)
    return None, 0.0


#: Top of the σ/σ_CRB axis: bars beyond it are clipped and labelled with their value.
_RATIO_TOP = 4.0


def plot_sigma_over_crb(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Slope-corrected resolution over the matched bound, (σ/slope)/σ_CRB, per method.

    Bars are grouped by (level, δC9, events per set) and carry their statistical errors;
    the raw σ/σ_CRB is marked with a cross on each bar; rows flagged out of the headline
    (truth near the edge of the training prior) are hatched.

    Parameters
    ----------
    rows : sequence of mapping
        Comparison rows from :func:`hepc9.evaluate.tables.comparison_rows` (rows without
        the corrected ratio fall back to the raw one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    usable = [r for r in rows if _ratio(r)[0] is not None]

    def key(r: Mapping[str, Any]) -> tuple[str, float, int]:
        return (str(r.get("level", "")), float(r["truth"]), int(r["events_per_set"]))

    groups = sorted({key(r) for r in usable}, key=lambda g: (g[0], g[1], -g[2]))
    methods = sorted({r["method"] for r in usable})
    with figure_style():
        fig, axes = new_figure(1, 1, width=min(2.0, max(1.0, 0.3 * len(groups))))
        ax = axes[0, 0]
        width = 0.8 / max(len(methods), 1)
        labelled: set[str] = set()
        for k, m in enumerate(methods):
            x = np.arange(len(groups)) + (k - (len(methods) - 1) / 2) * width
            for xi, g in zip(x, groups, strict=True):
                match = [r for r in usable if key(r) == g and r["method"] == m]
                if not match:
                    continue
                r = match[0]
                y, err = _ratio(r)
                flagged = not r.get("headline", True)
                off = y is not None and y > _RATIO_TOP
                ax.bar(xi, _RATIO_TOP if off else y, width,
                       yerr=None if off else err, capsize=2, color=f"C{k}",
                       alpha=0.4 if flagged else 1.0, hatch="//" if flagged else None,
                       label=None if m in labelled else m)
                if off and y is not None:  # off scale: the value is written on the bar
                    ax.text(xi, _RATIO_TOP * 0.97, f"{y:.0f}" if y >= 10 else f"{y:.1f}",
                            ha="center", va="top", rotation=90, fontsize=8)
                labelled.add(m)
                if r.get("corrected_over_crb") is not None and r.get("sigma_over_crb"):
                    raw = r"raw $\sigma/\sigma_{\rm CRB}$"
                    ax.plot(xi, r["sigma_over_crb"], "x", color="k", ms=6,
                            label=None if raw in labelled else raw)
                    labelled.add(raw)
        ax.axhline(1.0, color="k", lw=1, ls="--", label="Cramér–Rao bound")
        ax.set_ylim(0.0, min(ax.get_ylim()[1], _RATIO_TOP * 1.05))
        ax.set_xticks(np.arange(len(groups)),
                      [(f"{lv}\n" if lv else "") + rf"$\delta C_9={t:+.2f}$" + f"\nN={n}"
                       for lv, t, n in groups], fontsize=10)
        ax.set_ylabel(r"$(\sigma/\mathrm{slope})\,/\,\sigma_{\mathrm{CRB}}$")
        ax.set_xlabel(r"level, true $\delta C_9$, events per set $N$ (hatched: near prior edge)")
        ax.legend(fontsize=9)
    return fig
