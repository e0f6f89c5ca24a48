"""Figures of the event samples: distributions SM vs BSM, image slices, efficiency maps, Mbc/ΔE.

Papers/002 numbering where they reproduce one: distributions (fig. 2), image slices (fig. 3).
Every function returns a Figure drawn in :func:`hepc9.plots.style.figure_style`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepc9.plots.style import AXIS_LABELS, RANGES, figure_style, new_figure

__all__ = ["plot_distributions", "plot_efficiency", "plot_image_slices", "plot_mbc_delta_e"]


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
    with figure_style():
        ncols = 2
        nrows = math.ceil(len(variables) / ncols)
        fig, axes = new_figure(ncols, nrows, width=0.8)
        for i, var in enumerate(variables):
            ax = axes[i // ncols, i % ncols]
            lo, hi = RANGES.get(var, (None, None))
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
    with figure_style():
        fig, axes = new_figure(len(idx), 1, width=0.55)
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
    with figure_style():
        ncols = 2
        nrows = math.ceil(len(names) / ncols)
        fig, axes = new_figure(ncols, nrows, width=0.8)
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
    with figure_style():
        fig, axes = new_figure(2, 1, width=0.8)
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
