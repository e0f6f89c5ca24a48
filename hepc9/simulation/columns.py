"""Column sets of items and the column-wise take/concatenate of event dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["DETECTOR_COLUMNS", "GENERATOR_COLUMNS", "concat", "take"]

#: Columns of generator-level items.
GENERATOR_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour")
#: Columns of detector-level items (those signal and background candidates both have).
DETECTOR_COLUMNS = (*GENERATOR_COLUMNS, "mbc", "delta_e", "is_signal")


def take(events: Mapping[str, np.ndarray], sel: np.ndarray,
         columns: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Return ``events[c][sel]`` for the columns ``columns`` (default: all).

    Parameters
    ----------
    events : mapping of str to ndarray
        Event columns of equal length.
    sel : ndarray
        Boolean mask or integer indices.
    columns : iterable of str, optional
        Columns to keep.

    Returns
    -------
    dict of str to ndarray
    """
    names = events.keys() if columns is None else columns
    return {k: np.asarray(events[k])[sel] for k in names}


def concat(parts: Sequence[Mapping[str, np.ndarray]],
           columns: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Concatenate event dicts column by column (default: the columns of the first part).

    Parameters
    ----------
    parts : sequence of mapping
        Event dicts, at least one.
    columns : iterable of str, optional
        Columns to keep.

    Returns
    -------
    dict of str to ndarray
    """
    names = parts[0].keys() if columns is None else columns
    return {k: np.concatenate([p[k] for p in parts]) for k in names}
