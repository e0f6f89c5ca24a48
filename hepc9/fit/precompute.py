"""Fast per-event quadratic forms: spline-tabulated J_i matrices contracted with f_i(Ω).

The packed quadratic form of the rate of one event is (physics.md §2.1, §6.2)

    C_e = (9/32π) Σ_i f_i(Ω_e) J̃_i(q²_e),   J̃_i = packed matrices of J_i in the free shifts,

and only J̃_i depends on q².  :class:`CoefficientTable` tabulates J̃_i from
:func:`hepc9.physics.quadratic.angular_coefficient_matrices` on a q² grid and interpolates it
with cubic splines; the numba kernel then costs one spline evaluation and twelve angular
functions per event (the exact physics path costs the full amplitude computation per event).

Grid: the window is split at the charm threshold 4m_c² (a square-root cusp of C9eff), and on
each piece [a, b] the nodes are uniform in s with q² = a + (b − a) sin²(πs/2).  The map turns
the square-root behaviour at the piece ends (β_ℓ at 4m_μ², √λ at q²_max, the open-charm cusp)
into smooth functions of s and puts dense nodes where the photon pole makes the rate steep, so
the interpolation error is far below any statistical precision; :meth:`CoefficientTable.
max_relative_error` measures it against the exact physics at the cell midpoints (tested).
Narrow K* only (per-event m(Kπ) uses the exact path).

The angular functions come from :mod:`hepc9.physics.angular` (numpy and numba twins side by
side); :func:`angular_functions_numba` is re-exported here for compatibility.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np
from numba import njit

from hepc9.errors import DataError
from hepc9.fit.packed import pack_matrices
from hepc9.physics.angular import (
    angular_functions,
    angular_functions_numba,
    fill_angular_functions,
)
from hepc9.physics.constants import ModelConstants, WilsonShifts
from hepc9.physics.quadratic import angular_coefficient_matrices

__all__ = [
    "CoefficientTable",
    "angular_functions_numba",
    "coefficient_table",
    "table_coefficients",
    "table_coefficients_numpy",
]

_PREFACTOR = 9.0 / (32.0 * math.pi)


def _segments(lo: float, hi: float, constants: ModelConstants) -> list[tuple[float, float]]:
    thr = 4.0 * constants.m_c**2
    if lo < thr < hi:
        return [(lo, thr), (thr, hi)]
    return [(lo, hi)]


def _s_to_q2(s: np.ndarray, a: float, b: float) -> np.ndarray:
    return a + (b - a) * np.sin(0.5 * math.pi * s) ** 2


def _q2_to_s(q2: np.ndarray, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    x = np.clip((q2 - a) / (b - a), 0.0, 1.0)
    return (2.0 / math.pi) * np.arcsin(np.sqrt(x))


class CoefficientTable:
    """Cubic-spline table of the packed J_i matrices over a q² window.

    Parameters
    ----------
    params : sequence of str
        Free shifts.
    at : WilsonShifts
        Expansion point.
    constants : ModelConstants
    q2_range : (float, float)
        Window in GeV² (inside the kinematic range).
    points : int
        Nodes per piece of the window.

    Attributes
    ----------
    edges : ndarray, shape (m+1,)
        Piece boundaries in GeV² (m = 1 or 2).
    coeffs : ndarray, shape (m, points-1, 4, 12, P)
        Spline coefficients per piece and cell (highest power first, in t = s − s_cell).
    """

    def __init__(
        self,
        *,
        params: Sequence[str],
        at: WilsonShifts,
        constants: ModelConstants,
        q2_range: tuple[float, float],
        points: int = 2048,
    ) -> None:
        from scipy.interpolate import CubicSpline

        if points < 16:
            raise DataError(f"points = {points} must be at least 16")
        self.params = tuple(params)
        self.at = at
        self.constants = constants
        self.q2_range = (float(q2_range[0]), float(q2_range[1]))
        self.points = int(points)
        segs = _segments(*self.q2_range, constants)
        self.edges = np.array([segs[0][0]] + [b for _, b in segs])
        s = np.linspace(0.0, 1.0, self.points)
        self.s_nodes = s
        blocks = []
        for a, b in segs:
            q2 = _s_to_q2(s, a, b)
            j = pack_matrices(
                angular_coefficient_matrices(q2, params=self.params, at=at, constants=constants)
            )  # (12, G, P)
            vals = np.moveaxis(j, 1, 0)  # (G, 12, P)
            spl = CubicSpline(s, vals, axis=0, bc_type="not-a-knot")
            blocks.append(np.moveaxis(spl.c, 0, 1))  # (G-1, 4, 12, P)
        self.coeffs = np.ascontiguousarray(np.stack(blocks))
        self.n_packed = self.coeffs.shape[-1]

    def packed_j(self, q2: np.ndarray) -> np.ndarray:
        """Return the interpolated packed J_i matrices (numpy), shape (12, n, P)."""
        q2 = np.asarray(q2, dtype=np.float64)
        seg = np.clip(np.searchsorted(self.edges, q2, side="right") - 1, 0, len(self.edges) - 2)
        a, b = self.edges[seg], self.edges[seg + 1]
        s = _q2_to_s(q2, a, b)
        g = self.points - 1
        cell = np.minimum((s * g).astype(np.int64), g - 1)
        t = s - cell / g
        c = self.coeffs[seg, cell]  # (n, 4, 12, P)
        val = ((c[:, 0] * t[:, None, None] + c[:, 1]) * t[:, None, None] + c[:, 2]) * t[
            :, None, None
        ] + c[:, 3]
        return np.moveaxis(val, 0, 1)

    def max_relative_error(self, n_check: int = 4000) -> float:
        """Return the largest interpolation error at cell midpoints.

        The error of each packed J_i entry is divided by the local scale of the rate,
        (9/32π) Σ_i max_p |J̃_i,p|, at the same q².

        Parameters
        ----------
        n_check : int
            Midpoints checked per piece (spread evenly over the cells).

        Returns
        -------
        float
        """
        g = self.points - 1
        cells = np.unique(np.linspace(0, g - 1, min(n_check, g)).astype(np.int64))
        worst = 0.0
        for i in range(len(self.edges) - 1):
            a, b = self.edges[i], self.edges[i + 1]
            s_mid = (cells + 0.5) / g
            q2 = _s_to_q2(s_mid, a, b)
            exact = pack_matrices(
                angular_coefficient_matrices(
                    q2, params=self.params, at=self.at, constants=self.constants
                )
            )
            approx = self.packed_j(q2)
            scale = np.abs(exact).max(axis=2).sum(axis=0)  # (n,)
            err = np.abs(approx - exact).max(axis=(0, 2)) / np.where(scale > 0, scale, 1.0)
            worst = max(worst, float(err.max()))
        return worst


@functools.lru_cache(maxsize=16)
def coefficient_table(
    params: tuple[str, ...],
    at: WilsonShifts,
    constants: ModelConstants,
    q2_range: tuple[float, float],
    points: int = 2048,
) -> CoefficientTable:
    """Return a cached :class:`CoefficientTable` (see its parameters)."""
    return CoefficientTable(
        params=params, at=at, constants=constants, q2_range=q2_range, points=points
    )


@njit(cache=True, nogil=True)
def _table_kernel(q2, ctl, ctk, chi, edges, coeffs, points):  # pragma: no cover - compiled
    n = q2.size
    nseg = edges.size - 1
    p = coeffs.shape[4]
    out = np.zeros((n, p))
    f = np.empty(12)
    g = points - 1
    half_pi = 0.5 * math.pi
    for e in range(n):
        x = q2[e]
        seg = 0
        while seg < nseg - 1 and x >= edges[seg + 1]:
            seg += 1
        a = edges[seg]
        b = edges[seg + 1]
        u = (x - a) / (b - a)
        if u < 0.0:
            u = 0.0
        elif u > 1.0:
            u = 1.0
        s = math.asin(math.sqrt(u)) / half_pi
        cell = int(s * g)
        if cell > g - 1:
            cell = g - 1
        t = s - cell / g
        fill_angular_functions(ctl[e], ctk[e], chi[e], f)
        for i in range(12):
            fi = f[i] * _PREFACTOR
            for q in range(p):
                v = (
                    (coeffs[seg, cell, 0, i, q] * t + coeffs[seg, cell, 1, i, q]) * t
                    + coeffs[seg, cell, 2, i, q]
                ) * t + coeffs[seg, cell, 3, i, q]
                out[e, q] += fi * v
    return out


def table_coefficients(events: Mapping[str, np.ndarray], table: CoefficientTable) -> np.ndarray:
    """Return packed per-event forms from the table (numba), shape (n, P).

    Parameters
    ----------
    events : mapping of str to ndarray
        ``q2 costheta_l costheta_k chi`` inside the table's window.
    table : CoefficientTable

    Returns
    -------
    ndarray, shape (n, P), float64
    """
    return _table_kernel(
        np.ascontiguousarray(events["q2"], dtype=np.float64),
        np.ascontiguousarray(events["costheta_l"], dtype=np.float64),
        np.ascontiguousarray(events["costheta_k"], dtype=np.float64),
        np.ascontiguousarray(events["chi"], dtype=np.float64),
        table.edges,
        table.coeffs,
        table.points,
    )


def table_coefficients_numpy(
    events: Mapping[str, np.ndarray], table: CoefficientTable
) -> np.ndarray:
    """Plain numpy twin of :func:`table_coefficients` (uses physics' angular functions)."""
    f = angular_functions(
        np.asarray(events["costheta_l"], dtype=np.float64),
        np.asarray(events["costheta_k"], dtype=np.float64),
        np.asarray(events["chi"], dtype=np.float64),
    )
    return _PREFACTOR * np.einsum("inp,in->np", table.packed_j(events["q2"]), f)
