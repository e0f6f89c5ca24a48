"""Numba kernels of the background shapes: :func:`interp`, bit-identical to ``numpy.interp``.

``numpy.interp`` finds the table cell of every point by a binary search (with a guess that
does not help for random points); :func:`interp` locates it through a guide table in O(1)
and then evaluates numpy's own formula, so that the results are bit-identical.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["interp"]

#: Guide-table cells per table node.
_GUIDE_PER_NODE = 2


@njit(cache=True, nogil=True)
def _guide(xp, n_guide):  # pragma: no cover - compiled
    """``guide[g]``: last j with ``xp[j] <= lo + g·(hi − lo)/n_guide`` (xp non-decreasing)."""
    lo = xp[0]
    span = xp[xp.shape[0] - 1] - lo
    guide = np.empty(n_guide, np.int64)
    j = 0
    last = xp.shape[0] - 1
    for g in range(n_guide):
        edge = lo + span * (g / n_guide)
        while j < last and xp[j + 1] <= edge:
            j += 1
        guide[g] = j
    return guide


@njit(cache=True, nogil=True)
def _interp_kernel(x, xp, fp, guide, out):  # pragma: no cover - compiled
    """Fill ``out`` with ``numpy.interp(x, xp, fp)`` (xp non-decreasing, len(xp) ≥ 2)."""
    n = xp.shape[0]
    last = n - 1
    lo = xp[0]
    hi = xp[last]
    n_guide = guide.shape[0]
    scale = n_guide / (hi - lo) if hi > lo else 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            out[i] = v
            continue
        if v < lo:
            out[i] = fp[0]
            continue
        if v >= hi:
            out[i] = fp[last]
            continue
        g = int((v - lo) * scale)
        if g >= n_guide:
            g = n_guide - 1
        j = guide[g]
        # the guide cell's lower edge may round above v: step back, then forward
        while j > 0 and xp[j] > v:
            j -= 1
        while j < last and xp[j + 1] <= v:
            j += 1
        # j is the last index with xp[j] <= v < xp[last], as numpy's binary search finds
        if xp[j] == v:
            out[i] = fp[j]
            continue
        slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
        r = slope * (v - xp[j]) + fp[j]
        if np.isnan(r):
            r = slope * (v - xp[j + 1]) + fp[j + 1]
            if np.isnan(r) and fp[j] == fp[j + 1]:
                r = fp[j]
        out[i] = r


def interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Return ``numpy.interp(x, xp, fp)`` bit for bit, with an O(1) cell search.

    Parameters
    ----------
    x : ndarray
        Points (float64, any shape).
    xp : ndarray, shape (m,)
        Non-decreasing table abscissae, m ≥ 2.
    fp : ndarray, shape (m,)
        Table values.

    Returns
    -------
    ndarray
        float64, the shape of ``x``.
    """
    xv = np.ascontiguousarray(x, dtype=np.float64)
    xpv = np.ascontiguousarray(xp, dtype=np.float64)
    fpv = np.ascontiguousarray(fp, dtype=np.float64)
    if (xpv.ndim != 1 or xpv.shape != fpv.shape or xpv.shape[0] < 2
            or not np.all(np.isfinite(xpv)) or np.any(np.diff(xpv) < 0)):
        return np.interp(xv, xpv, fpv)  # outside the kernel's preconditions: numpy itself
    out = np.empty(xv.shape)
    guide = _guide(xpv, _GUIDE_PER_NODE * xpv.shape[0])
    _interp_kernel(xv.reshape(-1), xpv, fpv, guide, out.reshape(-1))
    return out
