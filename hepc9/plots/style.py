"""The one figure style of hepc9: mplhep style context, axis labels, figure factory, saving.

No pyplot state is used: :func:`new_figure` builds a :class:`matplotlib.figure.Figure` that the
drawing functions of :mod:`hepc9.plots` fill inside :func:`figure_style`; :func:`save_figure`
writes PNG and PDF atomically.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import mplhep
from matplotlib.figure import Figure

from hepc9.artifacts import atomic_path

__all__ = ["AXIS_LABELS", "RANGES", "figure_style", "new_figure", "save_figure"]

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

#: Default histogram ranges of the kinematic variables.
RANGES: dict[str, tuple[float, float]] = {
    "q2": (0.0, 19.25),
    "costheta_l": (-1.0, 1.0),
    "costheta_k": (-1.0, 1.0),
    "chi": (0.0, 2 * math.pi),
}

_COLUMN = (6.4, 4.8)


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply the hepc9 mplhep style (CMS base, one-column size) inside the context."""
    style = dict(mplhep.style.CMS)
    style.update({"figure.figsize": _COLUMN, "font.size": 14, "axes.labelsize": 15,
                  "legend.fontsize": 11, "xtick.labelsize": 12, "ytick.labelsize": 12,
                  "savefig.dpi": 150})
    with mpl.rc_context(style):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 1.0) -> tuple[Figure, Any]:
    """Return a constrained-layout Figure and its ``(nrows, ncols)`` axes grid (no pyplot)."""
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
    with figure_style():
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            with atomic_path(path, overwrite=True) as tmp:
                fig.savefig(tmp, format=fmt)
            out.append(path)
    return out
