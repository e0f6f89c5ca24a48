"""The (m(Kπ), q²) table of the ``relbw`` option (:class:`MassQ2Table`), its cache, window check."""

from __future__ import annotations

import functools

import numpy as np

from hepc9.errors import DataError
from hepc9.generate.checks import _as_shifts, _check_int
from hepc9.generate.lineshape import relbw_line_shape, relbw_mass_range
from hepc9.generate.mapping import (
    _cumulative_linear,
    _dq2_dv,
    _guide_table,
    _q2_to_v,
    _v_to_q2,
)
from hepc9.generate.tables import (
    _ABS_F_INTEGRALS,
    _DGAMMA_WEIGHTS,
    Q2Table,
    _angular_bound_fast,
    _exact_coefficients,
)
from hepc9.physics.constants import SEED_MODEL, ModelConstants, WilsonShifts

__all__ = ["MassQ2Table"]

#: Points of the tabulated line shape and mass nodes of the 2D (m, q²) table.
_LINE_SHAPE_POINTS = 4097
_MASS_NODES = 161
#: Normalised-q² points per mass node of the 2D table.
_MASS_TABLE_Q2_POINTS = 1025


class MassQ2Table:
    """Tabulated coefficients on a (m(Kπ), normalised q²) grid for the ``relbw`` line shape.

    At every mass node ``m_j`` (uniform in :func:`relbw_mass_range`) the table holds
    ``k[j, g, i] = J_i(q²; m_j) · dq²/dv`` over the full kinematic range [4m_μ², (m_B − m_j)²]
    at that mass, on one common normalised grid ``v`` (the refined grid of a :class:`Q2Table`
    at m_K*).  Between mass nodes the sampler interpolates linearly in m at fixed v.

    Parameters
    ----------
    shifts : WilsonShifts, optional
        Wilson-coefficient point.
    constants : ModelConstants, optional
        Model constants.
    mass_nodes : int, optional
        Number of mass nodes (≥ 3).
    q2_points : int, optional
        Initial points of the common q² grid (≥ 16).

    Attributes
    ----------
    m_lo, m_hi : float
        Mass range in GeV.
    masses : ndarray, shape (M,)
        Mass nodes.
    v : ndarray, shape (G,)
        Common normalised q² grid.
    k : ndarray, shape (M, G, 12)
    density, cdf, guides, bound : ndarray, shape (M, G)
        As in :class:`Q2Table`, per mass node.
    totals : ndarray, shape (M,)
        Rate over the full q² range at each node.
    ls_grid, ls_density, ls_cdf, ls_guide : ndarray, shape (L,)
        Tabulated normalised line shape (:func:`relbw_line_shape`) on a uniform mass grid.
    """

    def __init__(
        self,
        shifts: WilsonShifts = WilsonShifts(),  # noqa: B008 - immutable default
        *,
        constants: ModelConstants = SEED_MODEL,
        mass_nodes: int = _MASS_NODES,
        q2_points: int = _MASS_TABLE_Q2_POINTS,
    ) -> None:
        self.shifts = _as_shifts(shifts)
        self.constants = constants
        self.m_lo, self.m_hi = relbw_mass_range(constants)
        self.masses = np.linspace(self.m_lo, self.m_hi, _check_int(mass_nodes, "mass_nodes", 3))
        base = Q2Table(self.shifts, constants=constants, grid_points=q2_points, tolerance=1e-4)
        self.v = base.v
        self.q2_min = 4.0 * constants.m_mu**2
        self.k = np.ascontiguousarray(
            np.transpose(self._exact_k(self.masses[:, None], self.v[None, :]), (1, 2, 0))
        )
        self.density = self.k @ _DGAMMA_WEIGHTS
        self.cdf = _cumulative_linear(self.density, self.v)
        self.totals = np.ascontiguousarray(self.cdf[:, -1])
        self.guides = _guide_table(self.cdf)
        self.bound = np.ascontiguousarray(
            _angular_bound_fast(self.k.reshape(-1, 12).T).reshape(self.density.shape)
        )
        self.ls_grid = np.linspace(self.m_lo, self.m_hi, _LINE_SHAPE_POINTS)
        self.ls_density = relbw_line_shape(self.ls_grid, constants=constants)
        self.ls_cdf = _cumulative_linear(self.ls_density, self.ls_grid)
        self.ls_guide = _guide_table(self.ls_cdf)

    def _exact_k(self, m: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Exact J_i(q²(v); m) · dq²/dv for broadcastable ``m`` and ``v``; shape (12, *shape)."""
        m, v = np.broadcast_arrays(np.asarray(m, float), np.asarray(v, float))
        q2_hi = (self.constants.m_B0 - m) ** 2
        q2 = _v_to_q2(v, self.q2_min, q2_hi).ravel()
        jac = _dq2_dv(v, self.q2_min, q2_hi).ravel()
        jj = _exact_coefficients(q2, self.shifts, self.constants, m.ravel()) * jac
        return jj.reshape((12, *m.shape))

    def _cell_errors(self) -> tuple[np.ndarray, np.ndarray]:
        """|interpolated − exact| K (12, M−1, G−1) and exact K at the (m, v) cell centres."""
        mc = 0.5 * (self.masses[1:] + self.masses[:-1])
        vc = 0.5 * (self.v[1:] + self.v[:-1])
        exact = self._exact_k(mc[:, None], vc[None, :])
        kk = self.k
        interp = 0.25 * (kk[1:, 1:] + kk[1:, :-1] + kk[:-1, 1:] + kk[:-1, :-1])
        return np.abs(np.transpose(interp, (2, 0, 1)) - exact), exact

    def max_relative_error(self, *, floor: float = 1e-3) -> float:
        """Largest bilinear-interpolation error of any J_i relative to the local rate.

        Evaluated at the centres of the (m, v) cells against the exact physics, relative to
        the local dΓ/dv or ``floor`` times its maximum at that mass, whichever is larger.  The
        largest values (a few 10⁻³) sit next to the charm threshold cusp q² = 4m_c², whose
        position in v moves with m; elsewhere the error is ≲ 2×10⁻⁴.

        Parameters
        ----------
        floor : float, optional
            Relative rate floor.

        Returns
        -------
        float
        """
        err, exact = self._cell_errors()
        rate = np.tensordot(_DGAMMA_WEIGHTS, exact, axes=1)
        scale = np.maximum(rate, floor * np.max(rate, axis=1, keepdims=True))
        return float(np.max(np.max(err, axis=0) / np.where(scale > 0.0, scale, 1.0)))

    def total_variation_bound(self) -> float:
        """Largest, over the mass cells, estimated total-variation distance of the (q², Ω) pdf.

        Same construction as :meth:`Q2Table.total_variation_bound`, at the mass-cell centres.

        Returns
        -------
        float
        """
        err, exact = self._cell_errors()
        dv = np.diff(self.v)
        num = np.tensordot(_ABS_F_INTEGRALS, err, axes=1) @ dv
        den = np.tensordot(_DGAMMA_WEIGHTS, exact, axes=1) @ dv
        return float(np.max(num / den))


@functools.lru_cache(maxsize=2)
def _mass_table(shifts: WilsonShifts, constants: ModelConstants) -> MassQ2Table:
    return MassQ2Table(shifts, constants=constants)


#: Smallest fraction of ``relbw`` events a q² window may keep (it is applied by rejection).
_MIN_WINDOW_FRACTION = 1e-4


def _check_relbw_window_fraction(mt: MassQ2Table, win_lo: float, win_hi: float) -> float:
    """Return the approximate fraction of ``relbw`` events inside the window (from the tables).

    Raises DataError when it is below :data:`_MIN_WINDOW_FRACTION`: the rejection would
    then take very long.
    """
    q2_hi = (mt.constants.m_B0 - mt.masses) ** 2
    frac = np.empty(mt.masses.size)
    for j in range(mt.masses.size):
        edges = _q2_to_v(np.array([win_lo, win_hi]), mt.q2_min, q2_hi[j])
        c_lo, c_hi = np.interp(edges, mt.v, mt.cdf[j])
        frac[j] = (c_hi - c_lo) / mt.totals[j]
    frac_ls = np.interp(mt.ls_grid, mt.masses, frac)
    fraction = float(np.trapezoid(frac_ls * mt.ls_density, mt.ls_grid) / mt.ls_cdf[-1])
    if fraction < _MIN_WINDOW_FRACTION:
        raise DataError(
            f"the q² window [{win_lo:g}, {win_hi:g}] GeV² keeps a fraction {fraction:.2g} of the "
            f"relbw events (minimum {_MIN_WINDOW_FRACTION:g}); widen the window"
        )
    return fraction
