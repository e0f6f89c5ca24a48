"""δC9 label grids and the per-split label lists of a dataset build.

Grids (δC9 values, float64, sorted):

* ``paper22``: ``round(linspace(−2.0, 1.1, 22), 2)``.  papers/002 trains on 22 values in
  [−2.0, 1.1] but never lists them (its per-range image counts hint at a finer or
  non-uniform grid), so the exact grid is unknown; this even grid over the stated range is
  our choice.  It contains −0.82 (the new-physics point of papers/003) but not 0.0, which the
  default test split adds (``test_extra_labels``).
* ``lee44``: ``round(linspace(−2.0, 1.1, 43), 2)`` plus 0.0, the grid of the papers/003 code.
* ``custom``: the ``labels`` of the configuration.

Labels are δC9 values, never class indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, did_you_mean

__all__ = ["GRIDS", "SPLITS", "label_grid", "midpoints", "split_labels"]

#: Names of the built-in grids.
GRIDS = ("paper22", "lee44", "custom")
#: Dataset splits, in build order; each has its own random-stream stage.
SPLITS = ("train", "validation", "test")


def label_grid(name: str, labels: Sequence[float] = ()) -> np.ndarray:
    """Return a δC9 grid.

    Parameters
    ----------
    name : str
        ``paper22``, ``lee44`` or ``custom``.
    labels : sequence of float
        Values of the ``custom`` grid.

    Returns
    -------
    ndarray
        Sorted distinct δC9 values, float64.
    """
    if name == "paper22":
        grid = np.round(np.linspace(-2.0, 1.1, 22), 2)
    elif name == "lee44":
        grid = np.union1d(np.round(np.linspace(-2.0, 1.1, 43), 2), [0.0])
    elif name == "custom":
        if len(labels) == 0:
            raise ConfigError("the custom label grid needs at least one δC9 value")
        grid = np.asarray(labels, dtype=np.float64)
        if not np.all(np.isfinite(grid)):
            raise ConfigError(f"custom δC9 labels {list(labels)} must be finite")
    else:
        hint = did_you_mean(name, GRIDS)
        raise ConfigError(f"unknown label grid '{name}'{hint} (known: {', '.join(GRIDS)})")
    grid = np.unique(grid.astype(np.float64) + 0.0)  # + 0.0 turns −0.0 into 0.0
    return grid


def midpoints(grid: np.ndarray) -> np.ndarray:
    """Return the midpoints of neighbouring grid values, rounded to 4 decimals."""
    g = np.sort(np.asarray(grid, dtype=np.float64))
    return np.round(0.5 * (g[1:] + g[:-1]), 4)


def split_labels(datasets: Any) -> dict[str, np.ndarray]:
    """Return the label list of each split for a ``[datasets]`` configuration.

    Training and validation use the grid; the test split uses the grid plus, optionally, the
    midpoints between grid values and ``test_extra_labels`` (values between the training
    points, as in papers/002).

    Parameters
    ----------
    datasets : DatasetsConfig
        The ``[datasets]`` section.

    Returns
    -------
    dict of str to ndarray
        ``{"train": grid, "validation": grid, "test": test labels}`` (float64, sorted).
    """
    grid = label_grid(datasets.grid, datasets.labels)
    test = grid
    if datasets.test_midpoints and len(grid) > 1:
        test = np.union1d(test, midpoints(grid))
    if datasets.test_extra_labels:
        test = np.union1d(test, np.asarray(datasets.test_extra_labels, dtype=np.float64))
    return {"train": grid, "validation": grid.copy(), "test": np.unique(test + 0.0)}
