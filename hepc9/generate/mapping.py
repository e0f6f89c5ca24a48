"""Normalised-q² map, piecewise-linear CDFs and the convex angular bound of the sampler.

The map q² = q²_lo + (q²_hi − q²_lo) · x(v), x(v) = v^a / (v^a + (1 − v)^b), its Jacobian and
inverse; cumulative integrals and guide tables of piecewise-linear densities; the bound
:func:`_angular_bound` of Σ_i J_i f_i(Ω) over the angles (numpy, and through the numba kernel
:func:`hepc9.generate.kernels._angular_bound_kernel`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__: list[str] = []

_NINE_32PI = 9.0 / (32.0 * math.pi)
_TWO_PI = 2.0 * math.pi


#: Exponent of the q² mapping at a kinematic endpoint (module docstring): q² − q²_lo ∝ v^p near
#: v = 0 and q²_hi − q² ∝ (1 − v)^p near v = 1.  With p = 2 the square-root thresholds (β_ℓ,
#: √λ) become analytic in v and every K_i = J_i dq²/dv vanishes like v² there; the kernel
#: evaluates the map with two products.  A window edge inside the phase space uses p = 1 (no
#: compression: K_i stays finite and smooth).
_MAP_POWER = 2.0


def _map_powers(q2_lo: float, q2_hi: float, q2_min: float, q2_max: float) -> tuple[float, float]:
    """Return the mapping exponents (at v = 0, at v = 1) of a window in [q2_min, q2_max]."""
    tol = 1e-12 * q2_max
    return (
        _MAP_POWER if q2_lo <= q2_min + tol else 1.0,
        _MAP_POWER if q2_hi >= q2_max - tol else 1.0,
    )


def _map_x(v: np.ndarray, pa: float, pb: float) -> np.ndarray:
    """x(v) = v^a / (v^a + (1 − v)^b) ∈ [0, 1]: increasing, x(0) = 0, x(1) = 1."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    a = v**pa
    return a / (a + (1.0 - v) ** pb)


def _v_to_q2(
    v: np.ndarray, q2_lo: Any, q2_hi: Any, pa: float = _MAP_POWER, pb: float = _MAP_POWER
) -> np.ndarray:
    """Map the normalised variable ``v ∈ [0, 1]`` to q² (GeV²)."""
    return q2_lo + (q2_hi - q2_lo) * _map_x(v, pa, pb)


def _dq2_dv(
    v: np.ndarray, q2_lo: Any, q2_hi: Any, pa: float = _MAP_POWER, pb: float = _MAP_POWER
) -> np.ndarray:
    """Jacobian dq²/dv of :func:`_v_to_q2`, GeV² (0 at an endpoint with exponent > 1)."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    w = 1.0 - v
    a = v**pa
    b = w**pb
    with np.errstate(divide="ignore", invalid="ignore"):
        da = np.where(v > 0.0, pa * v ** (pa - 1.0), 1.0 if pa == 1.0 else 0.0)
        db = np.where(w > 0.0, pb * w ** (pb - 1.0), 1.0 if pb == 1.0 else 0.0)
    return (q2_hi - q2_lo) * (da * b + a * db) / (a + b) ** 2


def _q2_to_v(
    q2: np.ndarray, q2_lo: float, q2_hi: float, pa: float = _MAP_POWER, pb: float = _MAP_POWER
) -> np.ndarray:
    """Inverse of :func:`_v_to_q2` by bisection (clipped to [0, 1]; exact to ~1e-16)."""
    x = np.clip((np.asarray(q2, dtype=np.float64) - q2_lo) / (q2_hi - q2_lo), 0.0, 1.0)
    lo = np.zeros_like(x)
    hi = np.ones_like(x)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = _map_x(mid, pa, pb) < x
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.where(x <= 0.0, 0.0, np.where(x >= 1.0, 1.0, 0.5 * (lo + hi)))


def _cumulative_linear(dens: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Cumulative integral of a piecewise-linear density on ``grid`` (last axis)."""
    cdf = np.zeros_like(dens)
    cdf[..., 1:] = np.cumsum(0.5 * np.diff(grid) * (dens[..., 1:] + dens[..., :-1]), axis=-1)
    return cdf


def _guide_table(cdf: np.ndarray) -> np.ndarray:
    """Guide table of a CDF (last axis, G points): interval holding i/G · cdf[-1], int64."""
    g = cdf.shape[-1]
    levels = np.arange(g) / g
    flat = cdf.reshape(-1, g)
    out = np.empty(flat.shape, dtype=np.int64)
    for r, row in enumerate(flat):
        out[r] = np.clip(np.searchsorted(row, levels * row[-1], side="right") - 1, 0, g - 2)
    return out.reshape(cdf.shape)


#: cosθℓ cells of :func:`_angular_bound` (finer cells give a tighter bound).
_BOUND_CELLS = 32


def _angular_bound(j: np.ndarray) -> np.ndarray:
    """Return an upper bound of Σ_i J_i f_i(Ω) over the angles, for J of shape (12, n) → (n,).

    Write the density as sin²θK A + cos²θK B + 2 sinθK cosθK C with y = cosθℓ.  On each cell
    of a partition of y ∈ [−1, 1]: A ≤ max of the quadratic (J1s − J2s + R) + J6s y +
    (2J2s − R) y² with R = √(J3² + J9²) (the φ terms by their amplitude), B ≤ max of
    (J1c − J2c) + J6c y + 2J2c y², and |C| ≤ √(J5² + J7²) max √(1 − y²) +
    √(J4² + J8²) max 2|y|√(1 − y²), all maxima exact on the cell.  The maximum over θK of
    a sin²θK + b cos²θK + 2c |sinθK cosθK| is (a + b + √((a − b)² + 4c²))/2, non-decreasing in
    a, b, c; the bound is its maximum over the cells.

    The bound is a convex function of J (suprema of linear functions composed with
    non-decreasing convex maps), so on a grid interval where J is interpolated linearly the
    linear interpolation of the node bounds is again a valid bound: the kernels use that.
    """
    j = np.asarray(j, dtype=np.float64)
    n = j.shape[1]
    y0, y1, s_max, t_max = _bound_cells()
    out = np.empty(n)
    step = max(1, 2_000_000 // _BOUND_CELLS)
    for start in range(0, n, step):
        jj = j[:, start : start + step, None]
        j1s, j1c, j2s, j2c, j3, j4, j5, j6s, j6c, j7, j8, j9 = jj
        r = np.sqrt(j3 * j3 + j9 * j9)
        a = np.maximum(_max_quadratic_cells(j1s - j2s + r, j6s, 2.0 * j2s - r, y0, y1), 0.0)
        b = np.maximum(_max_quadratic_cells(j1c - j2c, j6c, 2.0 * j2c, y0, y1), 0.0)
        c = np.sqrt(j5 * j5 + j7 * j7) * s_max + np.sqrt(j4 * j4 + j8 * j8) * t_max
        bound = 0.5 * (a + b + np.sqrt((a - b) ** 2 + 4.0 * c * c))
        out[start : start + step] = np.max(bound, axis=-1)
    return out * (1.0 + 1e-9)


def _bound_cells() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells (y0, y1) of :func:`_angular_bound` and the cell maxima of √(1 − y²), 2|y|√(1 − y²)."""
    edges = np.linspace(-1.0, 1.0, _BOUND_CELLS + 1)
    y0, y1 = edges[:-1], edges[1:]
    u_lo = np.where((y0 < 0.0) & (y1 > 0.0), 0.0, np.minimum(y0 * y0, y1 * y1))
    u_hi = np.maximum(y0 * y0, y1 * y1)
    s_max = np.sqrt(1.0 - u_lo)
    u_t = np.clip(0.5, u_lo, u_hi)
    t_max = 2.0 * np.sqrt(u_t * (1.0 - u_t))
    return y0, y1, s_max, t_max


def _max_quadratic_cells(
    alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray, y0: np.ndarray, y1: np.ndarray
) -> np.ndarray:
    """Exact maximum of α + βy + γy² over each cell [y0, y1] (broadcast (n, 1) × (cells,))."""
    best = np.maximum(alpha + beta * y0 + gamma * y0 * y0, alpha + beta * y1 + gamma * y1 * y1)
    with np.errstate(divide="ignore", invalid="ignore"):
        yv = np.where(gamma < 0.0, -beta / (2.0 * np.where(gamma < 0.0, gamma, -1.0)), 2.0)
    inside = (yv >= y0) & (yv <= y1)
    return np.where(inside, np.maximum(best, alpha + beta * yv + gamma * yv * yv), best)
