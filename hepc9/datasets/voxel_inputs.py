"""Checks of the event columns, weights and image offsets given to the voxelisation paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.datasets.image_spec import AXES, ImageSpec
from hepc9.errors import DataError, ShapeError

__all__: list[str] = []


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _column(events: Mapping[str, Any], name: str, where: str) -> np.ndarray:
    try:
        col = events[name]
    except KeyError:
        raise DataError(
            f"{where} have no column '{name}' (columns: {', '.join(sorted(events))})"
        ) from None
    return np.ascontiguousarray(col, dtype=np.float64)


def _columns(
    events: Mapping[str, Any] | None, spec: ImageSpec, where: str
) -> tuple[np.ndarray, ...]:
    """Return ``costheta_l, costheta_k, chi, q2, flavour`` as contiguous float64/int8 arrays."""
    if events is None:
        z = np.zeros(0)
        return z, z, z, z, np.zeros(0, np.int8)
    cols = [_column(events, n, where) for n in (*AXES, "q2")]
    n = len(cols[0])
    if any(c.ndim != 1 or len(c) != n for c in cols):
        raise ShapeError(f"{where}: columns must be 1-D arrays of one length")
    if spec.flavour_channels:
        if "flavour" not in events:
            raise DataError(f"{where} have no 'flavour' column, needed for flavour channels")
        flav = np.ascontiguousarray(events["flavour"])
        if flav.shape != (n,):
            raise ShapeError(f"{where}: 'flavour' has shape {flav.shape}, expected ({n},)")
        bad = ~np.isin(flav, (1, -1))
        if bad.any():
            raise DataError(f"{where}: flavour must be +1 or -1, found {flav[bad][0]!r}")
        flav = flav.astype(np.int8)
    else:
        flav = np.zeros(n, np.int8)
    return (*cols, flav)


def _weights(w: Any, n: int, where: str) -> np.ndarray:
    if w is None:
        return np.zeros(0)
    arr = np.ascontiguousarray(w, dtype=np.float64)
    if arr.shape != (n,):
        raise ShapeError(f"{where}: weights have shape {arr.shape}, expected ({n},)")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise DataError(f"{where}: weights must be finite and positive")
    return arr


def _offsets(n: int, offsets: Any, n_images: int | None, where: str) -> np.ndarray:
    if offsets is not None:
        off = np.asarray(offsets, dtype=np.int64)
        if off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 0):
            raise ShapeError(
                f"{where}: offsets must rise from 0 to the number of events ({n}), got "
                f"{off[:3].tolist()}…{off[-1:].tolist()}"
            )
        return off
    if n_images is None or n_images <= 0:
        raise ShapeError(f"{where}: give offsets or a positive n_images")
    if n % n_images:
        raise ShapeError(f"{where}: {n} events do not split into {n_images} equal images")
    return np.arange(n_images + 1, dtype=np.int64) * (n // n_images)
