"""Differential and integrated decay rates (physics.md §2.1, §2.4, §6.1).

All rates are in GeV (Γ) or GeV⁻¹ (dΓ/dq²) and include the electroweak prefactor |N(q²)|²;
:func:`branching_fraction` multiplies by τ_B/ħ.  q² integrals use :func:`q2_integral`, a
composite Gauss–Legendre rule on segments split at the photon-pole region and at the charm
threshold 4m_c² (a square-root cusp of C9eff), with a cosine map on every segment that removes
the square-root end-point behaviour (β_ℓ at threshold, √λ at q²_max).  The node count is
doubled until two successive estimates agree to the requested relative accuracy.

Integrated rates assume a narrow K*.  A per-event K π mass m replaces m_K* everywhere (kinematics
and form factors), so the rate at a fixed m is ``total_rate(constants=c.replace(m_kstar=m))``;
line-shape averages integrate that over m.

Windows follow the one q² window rule of :mod:`hepc9.physics.window` (re-exported here as
:func:`resolve_q2_range`); the integrals clip a window to the kinematic range (``mode="clip"``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import numpy as np

from hepc9.errors import DataError
from hepc9.physics.angular import CHUNK_SIZE, angular_coefficients, angular_functions
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, ModelConstants, WilsonShifts
from hepc9.physics.window import resolve_q2_range

__all__ = [
    "branching_fraction",
    "decay_density",
    "dgamma_dq2",
    "dgamma_dq2_from_j",
    "differential_rate",
    "q2_integral",
    "resolve_q2_range",
    "total_rate",
]

_PREFACTOR = 9.0 / (32.0 * np.pi)


def dgamma_dq2_from_j(j: np.ndarray) -> np.ndarray:
    """Return dΓ/dq² = ¾(2J1s + J1c) − ¼(2J2s + J2c) from stacked J_i (physics.md §2.4).

    Parameters
    ----------
    j : ndarray
        Angular coefficients, shape (12, ...), ordered as ``J_NAMES``.

    Returns
    -------
    ndarray
        Shape ``j.shape[1:]``.
    """
    return 0.75 * (2.0 * j[0] + j[1]) - 0.25 * (2.0 * j[2] + j[3])


def differential_rate(
    q2: np.ndarray | float,
    costheta_l: np.ndarray | float,
    costheta_k: np.ndarray | float,
    chi: np.ndarray | float,
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> np.ndarray:
    """Return d⁴Γ/(dq² dcosθ_ℓ dcosθ_K dχ) = (9/32π) Σ J_i f_i (physics.md §2.1).

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², shape (n,).
    costheta_l, costheta_k : float or ndarray
        cosθ_ℓ, cosθ_K (LHCb convention), shape (n,).
    chi : float or ndarray
        χ in radians, shape (n,).
    shifts : WilsonShifts, optional
        New-physics point.
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass replacing m_K*.

    Returns
    -------
    ndarray
        float64, shape (n,), GeV⁻¹ per unit of cosθ_ℓ, cosθ_K, χ; zero outside the
        physical q² region.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in (q2, costheta_l, costheta_k, chi)]
    if mkpi is not None:
        arrays.append(np.asarray(mkpi, dtype=np.float64))
    arrays = list(np.broadcast_arrays(*arrays))
    if arrays[0].ndim != 1 or arrays[0].size <= CHUNK_SIZE:
        return _differential_rate(arrays, shifts, constants)
    out = np.empty(arrays[0].size, dtype=np.float64)
    for start in range(0, out.size, CHUNK_SIZE):
        sl = slice(start, start + CHUNK_SIZE)
        out[sl] = _differential_rate([a[sl] for a in arrays], shifts, constants)
    return out


def _differential_rate(
    arrays: list[np.ndarray], shifts: WilsonShifts, constants: ModelConstants
) -> np.ndarray:
    mkpi = arrays[4] if len(arrays) == 5 else None
    j = angular_coefficients(arrays[0], shifts=shifts, constants=constants, mkpi=mkpi)
    f = angular_functions(arrays[1], arrays[2], arrays[3])
    return _PREFACTOR * np.einsum("i...,i...->...", j, f)


def dgamma_dq2(
    q2: np.ndarray | float,
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> np.ndarray:
    """Return dΓ/dq² in GeV⁻¹ (physics.md §2.4).

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², shape (n,).
    shifts : WilsonShifts, optional
        New-physics point.
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass replacing m_K*.

    Returns
    -------
    ndarray
        float64, shape (n,); zero outside the physical region.
    """
    return dgamma_dq2_from_j(
        angular_coefficients(q2, shifts=shifts, constants=constants, mkpi=mkpi)
    )


@functools.lru_cache(maxsize=32)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _nodes(lo: float, hi: float, breaks: list[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes and weights with a cosine map on every segment."""
    edges = [lo, *[b for b in breaks if lo < b < hi], hi]
    x, w = _gauss_legendre(n)
    t = 0.5 * np.pi * (x + 1.0)  # t in (0, π)
    frac = 0.5 * (1.0 - np.cos(t))
    jac = 0.25 * np.pi * np.sin(t)  # d frac / d x
    nodes, weights = [], []
    for a, b in itertools.pairwise(edges):
        nodes.append(a + (b - a) * frac)
        weights.append((b - a) * jac * w)
    return np.concatenate(nodes), np.concatenate(weights)


def q2_integral(
    func: Callable[[np.ndarray], np.ndarray],
    *,
    q2_range: tuple[float, float] | None = None,
    constants: ModelConstants = SEED_MODEL,
    rtol: float = 1e-10,
    max_nodes: int = 4096,
) -> np.ndarray:
    """Integrate a (vector-valued) function of q² over a window, adaptively.

    Parameters
    ----------
    func : callable
        Maps q² nodes, shape (m,), to values of shape (m, ...) (points first).
    q2_range : (float, float), optional
        Window in GeV², clipped to the kinematic range (default: full range).
    constants : ModelConstants, optional
        Masses (range) and m_c (charm-threshold break point).
    rtol : float, optional
        Relative accuracy: successive estimates must agree to ``rtol`` times the largest
        absolute component.
    max_nodes : int, optional
        Largest number of nodes per segment before giving up.

    Returns
    -------
    ndarray
        The integral, shape ``func(...).shape[1:]``.

    Raises
    ------
    DataError
        If the accuracy is not reached with ``max_nodes`` nodes per segment.
    """
    lo, hi = resolve_q2_range(q2_range, constants)
    breaks = [0.1, 0.3, 1.0, 3.0, 4.0 * constants.m_c**2, 12.0]
    n = 48
    nodes, weights = _nodes(lo, hi, breaks, n)
    prev = np.tensordot(weights, func(nodes), axes=(0, 0))
    while True:
        n *= 2
        nodes, weights = _nodes(lo, hi, breaks, n)
        cur = np.tensordot(weights, func(nodes), axes=(0, 0))
        scale = np.max(np.abs(cur)) if np.size(cur) else 0.0
        if np.all(np.abs(cur - prev) <= rtol * scale):
            return cur
        if n >= max_nodes:
            raise DataError(
                f"q² integral over ({lo:.6g}, {hi:.6g}) GeV² did not reach rtol = {rtol:g} "
                f"with {n} nodes per segment; loosen rtol or check the model constants"
            )
        prev = cur


def total_rate(
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
) -> float:
    """Return Γ = ∫ dΓ/dq² dq² in GeV over a q² window (narrow K*).

    Parameters
    ----------
    shifts : WilsonShifts, optional
        New-physics point.
    constants : ModelConstants, optional
        Model constants.
    q2_range : (float, float), optional
        Window in GeV², clipped to the kinematic range (default: full range).

    Returns
    -------
    float
        Partial width in GeV, relative accuracy better than 1e-10.
    """
    return float(
        q2_integral(
            lambda q: dgamma_dq2(q, shifts=shifts, constants=constants),
            q2_range=q2_range,
            constants=constants,
        )
    )


def branching_fraction(
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
) -> float:
    """Return the (partial) branching fraction τ_B Γ / ħ.

    Parameters
    ----------
    shifts : WilsonShifts, optional
        New-physics point.
    constants : ModelConstants, optional
        Model constants (``tau_b0`` in seconds).
    q2_range : (float, float), optional
        Window in GeV² (default: full range).

    Returns
    -------
    float
        Dimensionless branching fraction (1.312e-6 for the seed model, physics.md §9).
    """
    return total_rate(shifts=shifts, constants=constants, q2_range=q2_range) * constants.hbar_tau


@functools.lru_cache(maxsize=256)
def _cached_total_rate(
    shifts: WilsonShifts, constants: ModelConstants, q2_range: tuple[float, float]
) -> float:
    return total_rate(shifts=shifts, constants=constants, q2_range=q2_range)


def decay_density(
    q2: np.ndarray | float,
    costheta_l: np.ndarray | float,
    costheta_k: np.ndarray | float,
    chi: np.ndarray | float,
    *,
    dc7: float = 0.0,
    dc9: float = 0.0,
    dc10: float = 0.0,
    c7p: float = 0.0,
    c9p: float = 0.0,
    c10p: float = 0.0,
    q2_range: tuple[float, float] | None = None,
    constants: ModelConstants | None = None,
) -> np.ndarray:
    """Return the normalised 4D probability density p(q², cosθ_ℓ, cosθ_K, χ).

    The support is ``q2_range × [−1, 1] × [−1, 1] × [0, 2π]``; the density integrates to one
    over it (narrow K*) and is exactly zero outside.

    Parameters
    ----------
    q2, costheta_l, costheta_k, chi : float or ndarray
        Event coordinates (GeV², -, -, rad), shape (n,).
    dc7, dc9, dc10, c7p, c9p, c10p : float, optional
        Real Wilson-coefficient shifts.
    q2_range : (float, float), optional
        q² window in GeV² (default: full kinematic range).
    constants : ModelConstants, optional
        Model constants (default :data:`SEED_MODEL`).

    Returns
    -------
    ndarray
        float64, shape (n,), in GeV⁻² rad⁻¹.
    """
    constants = SEED_MODEL if constants is None else constants
    shifts = WilsonShifts(dc7=dc7, dc9=dc9, dc10=dc10, c7p=c7p, c9p=c9p, c10p=c10p)
    lo, hi = resolve_q2_range(q2_range, constants)
    norm = _cached_total_rate(shifts, constants, (lo, hi))
    q2 = np.asarray(q2, dtype=np.float64)
    ctl = np.asarray(costheta_l, dtype=np.float64)
    ctk = np.asarray(costheta_k, dtype=np.float64)
    chi = np.asarray(chi, dtype=np.float64)
    rate = differential_rate(q2, ctl, ctk, chi, shifts=shifts, constants=constants)
    inside = (
        (q2 >= lo)
        & (q2 <= hi)
        & (np.abs(ctl) <= 1.0)
        & (np.abs(ctk) <= 1.0)
        & (chi >= 0.0)
        & (chi <= 2.0 * np.pi)
    )
    return np.where(inside, rate / norm, 0.0)
