"""Publication figures in one mplhep style: functions take results and return Figures.

No pyplot state is used: every function builds a :class:`matplotlib.figure.Figure` inside the
hepc9 style context and returns it; :func:`save_figure` writes PNG and PDF atomically.  This
module is imported only by the stages that draw, so ``import hepc9`` never loads matplotlib.

Figures (papers/002 numbering where they reproduce one): distributions SM vs BSM (fig. 2),
image slices (fig. 3), prediction histograms with μ, σL, σR (fig. 5), linearity with
√N-scaled and unscaled error bars (figs. 6–7), training curves, likelihood scans, σ/σ_CRB
across methods, efficiency maps, Mbc/ΔE with signal region and sideband.

The style, labels and saving live in :mod:`hepc9.plots.style`, the sample figures in
:mod:`hepc9.plots.data`, the result figures in :mod:`hepc9.plots.results`; every public name is
importable from here.
"""

from __future__ import annotations

from hepc9.plots.data import (
    plot_distributions,
    plot_efficiency,
    plot_image_slices,
    plot_mbc_delta_e,
)
from hepc9.plots.results import (
    plot_likelihood_scan,
    plot_linearity,
    plot_prediction_histograms,
    plot_sigma_over_crb,
    plot_training_history,
)
from hepc9.plots.style import AXIS_LABELS, save_figure

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
