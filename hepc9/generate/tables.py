"""Interpolation tables of the fast sampler: K_i(v) = J_i(q²) dq²/dv on adaptive grids.

:class:`Q2Table` tabulates one K π mass (the grid of K π masses of the ``relbw`` option is
:class:`hepc9.generate.mass_table.MassQ2Table`); it carries its error bounds, and small caches
keep the tables of recent points.

The grid starts uniform in the normalised variable v (:mod:`hepc9.generate.mapping`) and
intervals are bisected until the linear interpolation of every K_i meets the tolerance of the
local rate at every interval midpoint (module docstring of :mod:`hepc9.generate.sampler`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.generate.checks import _as_shifts, _check_int, _check_window, resolve_threads
from hepc9.generate.kernels import _angular_bound_kernel
from hepc9.generate.mapping import (
    _NINE_32PI,
    _TWO_PI,
    _bound_cells,
    _cumulative_linear,
    _dq2_dv,
    _guide_table,
    _map_powers,
    _q2_to_v,
    _v_to_q2,
)
from hepc9.physics.angular import angular_coefficients, angular_functions
from hepc9.physics.constants import SEED_MODEL, ModelConstants, WilsonShifts, q2_limits

__all__ = ["Q2Table"]


logger = logging.getLogger(__name__)
#: Weights of the angular integral: dΓ/dq² = ¾(2J1s + J1c) − ¼(2J2s + J2c) (physics.md §2.4).
_DGAMMA_WEIGHTS = np.array([1.5, 0.75, -0.5, -0.25, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float64)
#: (9/32π) ∫|f_i| dΩ for the twelve f_i of physics.md §2.1 (used by the total-variation bound):
#: products of ∫|g| over cosθK, cosθℓ and φ of the factors of each f_i.
_ABS_COS2 = 4.0 / (3.0 * math.sqrt(2.0)) * 2.0 - 2.0 / 3.0  # ∫|cos2θ| dcosθ
_ABS_F_INTEGRALS = _NINE_32PI * np.array(
    [
        (4 / 3) * 2.0 * _TWO_PI,  # 1s  sin²θK
        (2 / 3) * 2.0 * _TWO_PI,  # 1c  cos²θK
        (4 / 3) * _ABS_COS2 * _TWO_PI,  # 2s  sin²θK cos2θℓ
        (2 / 3) * _ABS_COS2 * _TWO_PI,  # 2c  cos²θK cos2θℓ
        (4 / 3) * (4 / 3) * 4.0,  # 3   sin²θK sin²θℓ cos2φ
        (4 / 3) * (4 / 3) * 4.0,  # 4   sin2θK sin2θℓ cosφ
        (4 / 3) * (math.pi / 2) * 4.0,  # 5   sin2θK sinθℓ cosφ
        (4 / 3) * 1.0 * _TWO_PI,  # 6s  sin²θK cosθℓ
        (2 / 3) * 1.0 * _TWO_PI,  # 6c  cos²θK cosθℓ
        (4 / 3) * (math.pi / 2) * 4.0,  # 7   sin2θK sinθℓ sinφ
        (4 / 3) * (4 / 3) * 4.0,  # 8   sin2θK sin2θℓ sinφ
        (4 / 3) * (4 / 3) * 4.0,  # 9   sin²θK sin²θℓ sin2φ
    ],
    dtype=np.float64,
)


# --------------------------------------------------------------------------------------------
# exact physics and small helpers
# --------------------------------------------------------------------------------------------


def _exact_coefficients(
    q2: np.ndarray, shifts: WilsonShifts, constants: ModelConstants, mkpi: Any = None
) -> np.ndarray:
    """Return the exact J_i^LHCb, shape (12, n), GeV⁻¹ per GeV² (0 outside phase space)."""
    out = angular_coefficients(
        np.asarray(q2, dtype=np.float64), shifts=shifts, constants=constants, mkpi=mkpi
    )
    return np.asarray(out, dtype=np.float64)


def _exact_angular_functions(ctl: np.ndarray, ctk: np.ndarray, chi: np.ndarray) -> np.ndarray:
    """Return the twelve f_i(Ω) of physics.md §2.1, shape (12, n)."""
    return np.asarray(angular_functions(ctl, ctk, chi), dtype=np.float64)


#: Nodes per thread below which :func:`_angular_bound_fast` stays on the calling thread.
_BOUND_NODES_PER_THREAD = 20_000


def _angular_bound_fast(j: np.ndarray) -> np.ndarray:
    """:func:`_angular_bound` computed by the numba kernel :func:`_angular_bound_kernel`.

    Large tables are split into contiguous node ranges on the sampler's threads (the kernel
    releases the GIL; every node is computed alone, so the result does not depend on it).
    """
    jt = np.ascontiguousarray(np.asarray(j, dtype=np.float64).T)
    out = np.empty(jt.shape[0])
    cells = _bound_cells()
    n = jt.shape[0]
    parts = min(resolve_threads(0), n // _BOUND_NODES_PER_THREAD)
    if parts <= 1:
        _angular_bound_kernel(jt, *cells, out)
        return out
    edges = [n * p // parts for p in range(parts + 1)]

    def part(a: int, b: int) -> None:
        _angular_bound_kernel(jt[a:b], *cells, out[a:b])

    with concurrent.futures.ThreadPoolExecutor(max_workers=parts) as pool:
        futures = [pool.submit(part, a, b) for a, b in itertools.pairwise(edges)]
        for fut in futures:
            fut.result()
    return out


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _refine_grid(
    exact_k: Callable[[np.ndarray], np.ndarray],
    v: np.ndarray,
    *,
    tolerance: float,
    floor: float,
    max_points: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bisect grid intervals until linear interpolation meets ``tolerance`` at every midpoint.

    The error of an interval is max_i |K_i^interp − K_i| at its midpoint divided by the local
    dΓ/dv (or by ``floor`` times the largest dΓ/dv, whichever is larger).  Only the two halves
    of a bisected interval get new midpoint evaluations.  Returns the final grid (G,), K at its
    nodes (12, G), and the exact and interpolated K at the midpoints of the final grid
    (12, G − 1 each).
    """
    k = exact_k(v)
    vm = 0.5 * (v[1:] + v[:-1])
    km = exact_k(vm)
    while True:
        interp = 0.5 * (k[:, 1:] + k[:, :-1])
        rate = _DGAMMA_WEIGHTS @ km
        scale = np.maximum(rate, floor * np.max(rate))
        err = np.max(np.abs(interp - km), axis=0) / np.where(scale > 0.0, scale, 1.0)
        bad = (err > tolerance) & (np.diff(v) > 1e-13)
        n_bad = int(np.count_nonzero(bad))
        if n_bad == 0 or v.size + n_bad > max_points:
            if n_bad:
                logger.warning(
                    "q² table refinement stopped at the limit of %d points with %d intervals "
                    "above the tolerance %g", v.size, n_bad, tolerance,
                )  # fmt: skip
            return v, k, km, interp
        # the midpoint of a bad interval becomes a node; its two halves get new midpoints
        left = 0.5 * (v[:-1][bad] + vm[bad])
        right = 0.5 * (vm[bad] + v[1:][bad])
        new_mid = np.concatenate([left, right])
        new_km = exact_k(new_mid)
        nodes_v = np.concatenate([v, vm[bad]])
        order = np.argsort(nodes_v, kind="stable")
        v = nodes_v[order]
        k = np.concatenate([k, km[:, bad]], axis=1)[:, order]
        keep = ~bad
        mids_v = np.concatenate([vm[keep], new_mid])
        order = np.argsort(mids_v, kind="stable")
        vm = mids_v[order]
        km = np.concatenate([km[:, keep], new_km], axis=1)[:, order]


#: Default target of the grid refinement: max_i |ΔJ_i| ≤ 1e-6 of the local rate.
_TABLE_TOLERANCE = 1e-6
#: Rates below this fraction of the maximum count as this fraction in the refinement criterion.
_TABLE_FLOOR = 1e-6


class Q2Table:
    """Tabulated angular coefficients on a q² grid for one model point (fixed m(Kπ)).

    The grid lives in the normalised variable ``v`` with q² = q²_lo + (q²_hi − q²_lo) x(v),
    x(v) = v^a / (v^a + (1 − v)^b) (module docstring).  It starts uniform with
    ``grid_points`` points and intervals are bisected until the linear interpolation of every
    ``K_i = J_i dq²/dv`` agrees with the exact physics at every interval midpoint to
    ``tolerance`` times the local rate (this resolves the photon pole, the charm threshold
    cusp at q² = 4m_c² and the kinematic endpoints).

    Parameters
    ----------
    shifts : WilsonShifts, optional
        Wilson-coefficient point.
    constants : ModelConstants, optional
        Model constants.
    q2_range : tuple of float, optional
        Window (q²_lo, q²_hi) in GeV²; default the kinematic range of physics.md §1.2.
    grid_points : int, optional
        Points of the initial uniform grid (≥ 16).
    mkpi : float, optional
        K π mass in GeV replacing m_K* (default m_K*).
    tolerance : float, optional
        Refinement target, relative to the local rate.

    Attributes
    ----------
    q2_lo, q2_hi : float
        Window in GeV².
    v : ndarray, shape (G,)
        Normalised grid nodes (increasing, float64).
    q2 : ndarray, shape (G,)
        Grid nodes in GeV².
    k : ndarray, shape (G, 12)
        J_i · dq²/dv at the nodes (C-contiguous float64).
    density : ndarray, shape (G,)
        dΓ/dv at the nodes.
    cdf : ndarray, shape (G,)
        Cumulative integral of the interpolated ``density``; ``cdf[-1]`` is the rate in the
        window (:attr:`rate`).
    guide : ndarray, shape (G,)
        int64 guide table of ``cdf`` (interval holding the CDF level i/G).
    bound : ndarray, shape (G,)
        :func:`_angular_bound` of the node coefficients ``k``.
    powers : tuple of float
        Exponents (a, b) of the map.
    """

    def __init__(
        self,
        shifts: WilsonShifts = WilsonShifts(),  # noqa: B008 - immutable default
        *,
        constants: ModelConstants = SEED_MODEL,
        q2_range: tuple[float, float] | None = None,
        grid_points: int = 4096,
        mkpi: float | None = None,
        tolerance: float = _TABLE_TOLERANCE,
    ) -> None:
        self.shifts = _as_shifts(shifts)
        self.constants = constants
        self.mkpi = float(constants.m_kstar if mkpi is None else mkpi)
        self.q2_lo, self.q2_hi = _check_window(q2_range, constants, mkpi=self.mkpi)
        q2_min, q2_max = q2_limits(constants, self.mkpi)
        self.powers = _map_powers(self.q2_lo, self.q2_hi, float(q2_min), float(q2_max))
        grid_points = _check_int(grid_points, "grid_points", minimum=16)
        if not (isinstance(tolerance, int | float) and 0.0 < tolerance < 1.0):
            raise DataError(f"tolerance must be a number in (0, 1), got {tolerance!r}")
        self.tolerance = float(tolerance)
        if self.shifts.is_zero():
            start = np.linspace(0.0, 1.0, grid_points)
        else:
            # start from the refined grid of the seed model for the same window: the pole, the
            # cusp and the endpoints sit where they are for every shift, so the refinement
            # usually stops after one pass
            start = _base_grid(constants, q2_range, grid_points, self.tolerance, mkpi).copy()
        v, k, km, interp = _refine_grid(
            self._exact_k,
            start,
            tolerance=self.tolerance,
            floor=_TABLE_FLOOR,
            max_points=8 * grid_points + 50_000,
        )
        self.v = v
        self.q2 = _v_to_q2(v, self.q2_lo, self.q2_hi, *self.powers)
        self.k = np.ascontiguousarray(k.T)
        self.density = self.k @ _DGAMMA_WEIGHTS
        self.cdf = _cumulative_linear(self.density, self.v)
        self.guide = _guide_table(self.cdf)
        self.bound = _angular_bound_fast(k)
        if not (self.cdf[-1] > 0.0 and np.isfinite(self.cdf[-1])):
            raise DataError(
                f"the rate in the q² window [{self.q2_lo:.6g}, {self.q2_hi:.6g}] GeV² is "
                f"{self.cdf[-1]!r}; choose a window inside the phase space with a non-zero rate"
            )
        self._mid_exact = km
        self._mid_interp = interp
        self._mid_rate = _DGAMMA_WEIGHTS @ km

    def _exact_k(self, v: np.ndarray) -> np.ndarray:
        """Exact J_i · dq²/dv at ``v``, shape (12, n)."""
        q2 = _v_to_q2(v, self.q2_lo, self.q2_hi, *self.powers)
        jac = _dq2_dv(v, self.q2_lo, self.q2_hi, *self.powers)
        return _exact_coefficients(q2, self.shifts, self.constants, self.mkpi) * jac

    @property
    def grid_size(self) -> int:
        """Number of grid nodes after refinement."""
        return int(self.v.size)

    @property
    def rate(self) -> float:
        """Integral of the tabulated dΓ/dq² over the window (GeV⁻¹ as the J_i)."""
        return float(self.cdf[-1])

    def _interpolate_k(self, v: np.ndarray) -> np.ndarray:
        v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
        idx = np.clip(np.searchsorted(self.v, v, side="right") - 1, 0, self.v.size - 2)
        s = ((v - self.v[idx]) / (self.v[idx + 1] - self.v[idx]))[:, None]
        return ((1.0 - s) * self.k[idx] + s * self.k[idx + 1]).T

    def coefficients_at(self, q2: np.ndarray) -> np.ndarray:
        """Return the tabulated J_i at ``q2`` (GeV²), shape (12, n); 0 outside the window.

        Parameters
        ----------
        q2 : ndarray, shape (n,)
            q² in GeV².

        Returns
        -------
        ndarray, shape (12, n)
            Interpolated J_i^LHCb (same units as
            :func:`hepc9.physics.angular.angular_coefficients`).
        """
        q2 = np.atleast_1d(np.asarray(q2, dtype=np.float64))
        v = _q2_to_v(q2, self.q2_lo, self.q2_hi, *self.powers)
        jac = _dq2_dv(v, self.q2_lo, self.q2_hi, *self.powers)
        inside = (q2 >= self.q2_lo) & (q2 <= self.q2_hi) & (jac > 0.0)
        kk = self._interpolate_k(v)
        return np.where(inside, kk / np.where(inside, jac, 1.0), 0.0)

    def dgamma_dq2(self, q2: np.ndarray) -> np.ndarray:
        """Return the tabulated dΓ/dq² at ``q2`` (GeV²), shape (n,); 0 outside the window."""
        return _DGAMMA_WEIGHTS @ self.coefficients_at(q2)

    def max_relative_error(self, *, floor: float = _TABLE_FLOOR) -> float:
        """Largest interpolation error of any J_i relative to the local rate.

        Measured at the midpoints of the final grid intervals (where linear interpolation is
        worst) against the exact physics: max over midpoints of max_i |ΔK_i| / (dΓ/dv), the
        rate being replaced by ``floor`` times its maximum where it is smaller (only the last
        nanometres of phase space next to the kinematic endpoints).

        Parameters
        ----------
        floor : float, optional
            Relative rate floor, 0 ≤ floor < 1.

        Returns
        -------
        float
        """
        scale = np.maximum(self._mid_rate, floor * np.max(self._mid_rate))
        err = np.max(np.abs(self._mid_interp - self._mid_exact), axis=0)
        return float(np.max(err / np.where(scale > 0.0, scale, 1.0)))

    def total_variation_bound(self) -> float:
        """Estimated bound of the total-variation distance between tabulated and exact 4D pdfs.

        (1/Γ) ∫ dv Σ_i |ΔK_i(v)| (9/32π) ∫|f_i| dΩ, with the interpolation error taken at the
        interval midpoints and integrated with the interval widths (linear interpolation error
        is largest there, so this overestimates the integral).  Any event-selection probability
        (a histogram bin, a q² region) of the fast sampler differs from the exact one by at
        most about this number.

        Returns
        -------
        float
        """
        abs_err = np.abs(self._mid_interp - self._mid_exact)
        return float(np.sum((_ABS_F_INTEGRALS @ abs_err) * np.diff(self.v)) / self.rate)


@functools.lru_cache(maxsize=16)
def _base_grid(
    constants: ModelConstants,
    q2_range: Any,
    grid_points: int,
    tolerance: float,
    mkpi: float | None,
) -> np.ndarray:
    """Refined grid of the seed model (δC = 0) for a window; start grid for other shifts."""
    q2_range = None if q2_range is None else tuple(float(x) for x in q2_range)
    return Q2Table(
        WilsonShifts(), constants=constants, q2_range=q2_range, grid_points=grid_points,
        tolerance=tolerance, mkpi=mkpi,
    ).v  # fmt: skip


#: Tables kept per process: streamed training draws items on a lattice of δC9 points
#: (``[datasets] prior_step``, 81 points by default) and must find each table again.
_TABLE_CACHE = 96


@functools.lru_cache(maxsize=_TABLE_CACHE)
def _q2_table(
    shifts: WilsonShifts,
    constants: ModelConstants,
    q2_range: tuple[float, float] | None,
    grid_points: int,
) -> Q2Table:
    return Q2Table(shifts, constants=constants, q2_range=q2_range, grid_points=grid_points)
