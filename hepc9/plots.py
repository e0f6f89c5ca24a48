"""Publication figures in one mplhep style: functions take results and return Figures.

No pyplot state is used: every function builds a :class:`matplotlib.figure.Figure` inside the
hepc9 style context and returns it; :func:`save_figure` writes PNG and PDF atomically.  This
module is imported only by the stages that draw, so ``import hepc9`` never loads matplotlib.

Figures (papers/002 numbering where they reproduce one): distributions SM vs BSM (fig. 2),
image slices (fig. 3), prediction histograms with μ, σL, σR (fig. 5), linearity with
√N-scaled and unscaled error bars (figs. 6–7), training curves, likelihood scans, σ/σ_CRB
across methods, efficiency maps, Mbc/ΔE with signal region and sideband.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepc9.artifacts import atomic_path
from hepc9.evaluate.ensembles import EnsembleResult

__all__ = [
    "AXIS_LABELS",
    "plot_distributions",
    "plot_efficiency",
    "plot_image_slices",
    "plot_likelihood_scan",
    "plot_linearity",
    "plot_mbc_delta_e",
    "plot_prediction_histograms",
    "plot_sigma_over_crb",
    "plot_training_history",
    "save_figure",
]

#: LaTeX axis labels with units, one place for every figure.
AXIS_LABELS: dict[str, str] = {
    "q2": r"$q^2$ [GeV$^2$]",
    "costheta_l": r"$\cos\theta_\ell$",
    "costheta_k": r"$\cos\theta_K$",
    "chi": r"$\chi$ [rad]",
    "mkpi": r"$m(K\pi)$ [GeV]",
    "mbc": r"$M_{\mathrm{bc}}$ [GeV]",
    "delta_e": r"$\Delta E$ [GeV]",
    "dc9": r"$\delta C_9$",
    "dc9_true": r"true $\delta C_9$",
    "dc9_pred": r"predicted $\delta C_9$",
}

_RANGES: dict[str, tuple[float, float]] = {
    "q2": (0.0, 19.25),
    "costheta_l": (-1.0, 1.0),
    "costheta_k": (-1.0, 1.0),
    "chi": (0.0, 2 * math.pi),
}

_COLUMN = (6.4, 4.8)


@contextlib.contextmanager
def _style() -> Iterator[None]:
    style = dict(mplhep.style.CMS)
    style.update({"figure.figsize": _COLUMN, "font.size": 14, "axes.labelsize": 15,
                  "legend.fontsize": 11, "xtick.labelsize": 12, "ytick.labelsize": 12,
                  "savefig.dpi": 150})
    with mpl.rc_context(style):
        yield


def _figure(ncols: int = 1, nrows: int = 1, *, width: float = 1.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(_COLUMN[0] * width * ncols, _COLUMN[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save_figure(
    fig: Figure, stem: str | Path, *, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Write a figure as ``stem.<fmt>`` for each format, atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Figure to write.
    stem : str or Path
        Output path without suffix.
    formats : sequence of str
        File formats (``png``, ``pdf``, ``svg``).

    Returns
    -------
    list of Path
    """
    out = []
    with _style():
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            with atomic_path(path, overwrite=True) as tmp:
                fig.savefig(tmp, format=fmt)
            out.append(path)
    return out


def plot_distributions(
    samples: Mapping[str, Mapping[str, np.ndarray]],
    *,
    variables: Sequence[str] = ("q2", "costheta_l", "costheta_k", "chi"),
    bins: int = 40,
) -> Figure:
    """Normalised 1D distributions of several samples (e.g. SM versus BSM), one panel each.

    Parameters
    ----------
    samples : mapping of str to events dict
        Legend label → event columns.
    variables : sequence of str
        Native column names to draw.
    bins : int
        Bins per panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    with _style():
        ncols = 2
        nrows = math.ceil(len(variables) / ncols)
        fig, axes = _figure(ncols, nrows, width=0.8)
        for i, var in enumerate(variables):
            ax = axes[i // ncols, i % ncols]
            lo, hi = _RANGES.get(var, (None, None))
            for label, ev in samples.items():
                x = np.asarray(ev[var])
                rng = (float(lo), float(hi)) if lo is not None and hi is not None else (
                    float(x.min()), float(x.max()))
                h, edges = np.histogram(x, bins=bins, range=rng, density=True)
                mplhep.histplot(h, edges, ax=ax, label=label)
            ax.set_xlabel(AXIS_LABELS.get(var, var))
            ax.set_ylabel("normalised density")
        for j in range(len(variables), nrows * ncols):
            axes[j // ncols, j % ncols].set_axis_off()
        axes[0, 0].legend()
    return fig


def plot_image_slices(
    image: np.ndarray,
    *,
    channel: int = 0,
    slices: Sequence[int] | None = None,
    channel_label: str = r"mean normalised $q^2$",
) -> Figure:
    """Slices of a quasi-image in (cosθℓ, cosθK) at several χ bins.

    Parameters
    ----------
    image : numpy.ndarray, shape (X, Y, Z, C)
        One image, axes (cosθℓ, cosθK, χ), channels last.
    channel : int
        Channel to draw.
    slices : sequence of int, optional
        χ bin indices (default: four evenly spaced).
    channel_label : str
        Colour-bar label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    img = np.asarray(image, dtype=np.float32)
    nz = img.shape[2]
    idx = list(slices) if slices is not None else [int(k) for k in np.linspace(0, nz - 1, 4)]
    with _style():
        fig, axes = _figure(len(idx), 1, width=0.55)
        vmin, vmax = float(np.min(img[..., channel])), float(np.max(img[..., channel]))
        mesh: Any = None
        for ax, k in zip(axes[0], idx, strict=True):
            mesh = ax.imshow(img[:, :, k, channel].T, origin="lower", extent=(-1, 1, -1, 1),
                             vmin=vmin, vmax=vmax, aspect="equal", cmap="viridis")
            lo = 2 * math.pi * k / nz
            ax.set_title(rf"$\chi \in [{lo:.2f}, {lo + 2 * math.pi / nz:.2f})$", fontsize=11)
            ax.set_xlabel(AXIS_LABELS["costheta_l"])
            ax.set_ylabel(AXIS_LABELS["costheta_k"])
        fig.colorbar(mesh, ax=axes[0].tolist(), label=channel_label, shrink=0.8)
    return fig


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
    with _style():
        fig, axes = _figure(1, 1)
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
    with _style():
        fig, axes = _figure(1, 1)
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
    with _style():
        fig, axes = _figure(1, 1)
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
    with _style():
        fig, axes = _figure(1, 1)
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
    with _style():
        fig, axes = _figure(1, 1, width=min(2.0, max(1.0, 0.3 * len(groups))))
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
                ax.bar(xi, y, width, yerr=err, capsize=2, color=f"C{k}",
                       alpha=0.4 if flagged else 1.0, hatch="//" if flagged else None,
                       label=None if m in labelled else m)
                labelled.add(m)
                if r.get("corrected_over_crb") is not None and r.get("sigma_over_crb"):
                    raw = r"raw $\sigma/\sigma_{\rm CRB}$"
                    ax.plot(xi, r["sigma_over_crb"], "x", color="k", ms=6,
                            label=None if raw in labelled else raw)
                    labelled.add(raw)
        ax.axhline(1.0, color="k", lw=1, ls="--", label="Cramér–Rao bound")
        ax.set_ylim(bottom=0.0)
        ax.set_xticks(np.arange(len(groups)),
                      [(f"{lv}\n" if lv else "") + rf"$\delta C_9={t:+.2f}$" + f"\nN={n}"
                       for lv, t, n in groups], fontsize=10)
        ax.set_ylabel(r"$(\sigma/\mathrm{slope})\,/\,\sigma_{\mathrm{CRB}}$")
        ax.set_xlabel(r"level, true $\delta C_9$, events per set $N$ (hatched: near prior edge)")
        ax.legend(fontsize=9)
    return fig


def plot_efficiency(
    efficiency: Mapping[str, Mapping[str, Sequence[float]]],
) -> Figure:
    """Efficiency versus q² and each angle.

    Parameters
    ----------
    efficiency : mapping of str to mapping
        Variable → ``{"edges": (k+1,), "efficiency": (k,), "error": (k,)}``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(efficiency)
    with _style():
        ncols = 2
        nrows = math.ceil(len(names) / ncols)
        fig, axes = _figure(ncols, nrows, width=0.8)
        for i, var in enumerate(names):
            ax = axes[i // ncols, i % ncols]
            d = efficiency[var]
            edges = np.asarray(d["edges"], dtype=np.float64)
            eff = np.asarray(d["efficiency"], dtype=np.float64)  # None (empty bin) → nan
            err = np.asarray(d.get("error") or np.zeros_like(eff), dtype=np.float64)
            mplhep.histplot(eff, edges, yerr=err, ax=ax, histtype="errorbar")
            ax.set_xlabel(AXIS_LABELS.get(var, var))
            ax.set_ylabel("efficiency")
            top = np.nanmax(eff + err) if np.any(np.isfinite(eff)) else 1.0
            ax.set_ylim(0, min(1.05, float(top) * 1.3 + 0.05))
        for j in range(len(names), nrows * ncols):
            axes[j // ncols, j % ncols].set_axis_off()
    return fig


def plot_mbc_delta_e(
    events: Mapping[str, np.ndarray],
    *,
    signal_region: tuple[float, float] = (5.27, 0.05),
    sideband: tuple[float, float] = (5.20, 5.26),
    mbc_range: tuple[float, float] = (5.2, 5.29),
    bins: int = 60,
) -> Figure:
    """M_bc and ΔE distributions split by truth, with the signal region and sideband shaded.

    Parameters
    ----------
    events : events dict
        Detector-level columns ``mbc``, ``delta_e`` and ``is_signal``.
    signal_region : (float, float)
        (M_bc minimum, |ΔE| maximum) of the signal region, GeV.
    sideband : (float, float)
        M_bc sideband edges, GeV.
    mbc_range : (float, float)
        Drawn M_bc range, GeV.
    bins : int
        Bins per panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    mbc = np.asarray(events["mbc"])
    de = np.asarray(events["delta_e"])
    sig = np.asarray(events.get("is_signal", np.ones_like(mbc))).astype(bool)
    mbc_min, de_max = signal_region
    with _style():
        fig, axes = _figure(2, 1, width=0.8)
        ax = axes[0, 0]
        in_de = np.abs(de) < de_max
        stack = [mbc[in_de & ~sig], mbc[in_de & sig]]
        hs = [np.histogram(x, bins=bins, range=mbc_range)[0] for x in stack]
        edges = np.linspace(*mbc_range, bins + 1)
        mplhep.histplot(hs, edges, ax=ax, stack=True, histtype="fill",
                        label=["background", "signal"], alpha=0.8)
        ax.axvspan(mbc_min, mbc_range[1], color="C2", alpha=0.12, label="signal region")
        ax.axvspan(*sideband, color="C4", alpha=0.12, label="sideband")
        ax.set_xlabel(AXIS_LABELS["mbc"])
        ax.set_ylabel(rf"candidates ($|\Delta E|<{de_max}$ GeV)")
        ax.legend(fontsize=9)
        ax = axes[0, 1]
        in_mbc = mbc > mbc_min
        de_rng = (-0.2, 0.2)
        hs = [np.histogram(x, bins=bins, range=de_rng)[0] for x in (de[in_mbc & ~sig],
                                                                   de[in_mbc & sig])]
        mplhep.histplot(hs, np.linspace(*de_rng, bins + 1), ax=ax, stack=True, histtype="fill",
                        label=["background", "signal"], alpha=0.8)
        ax.axvspan(-de_max, de_max, color="C2", alpha=0.12, label="signal region")
        ax.set_xlabel(AXIS_LABELS["delta_e"])
        ax.set_ylabel(rf"candidates ($M_{{bc}}>{mbc_min}$ GeV)")
    return fig
