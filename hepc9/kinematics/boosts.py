"""Lorentz boosts, input checks and the particle masses and keys of :mod:`hepc9.kinematics`."""

from __future__ import annotations

import math

import numba
import numpy as np

from hepc9.errors import DataError, ShapeError
from hepc9.physics.constants import SEED_MODEL

__all__ = ["M_B0", "M_K", "M_MU", "M_PI", "PARTICLE_KEYS", "boost"]

#: B0 mass in GeV (``SEED_MODEL.m_B0``, physics.md §1.1).
M_B0 = SEED_MODEL.m_B0
#: Charged-kaon mass in GeV (``SEED_MODEL.m_K``, physics.md §1.1).
M_K = SEED_MODEL.m_K
#: Charged-pion mass in GeV (``SEED_MODEL.m_pi``, physics.md §1.1).
M_PI = SEED_MODEL.m_pi
#: Muon mass in GeV (``SEED_MODEL.m_mu``, physics.md §1.1).
M_MU = SEED_MODEL.m_mu

#: Keys of a four-vector dict, in the order the angle functions take them.
PARTICLE_KEYS = ("k", "pi", "mup", "mum")

_TWO_PI = 2.0 * math.pi


# ----------------------------------------------------------------------------------------
# Input checks and small helpers
# ----------------------------------------------------------------------------------------


def _as_p4(p4: np.ndarray, name: str, n: int | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(p4, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ShapeError(
            f"four-vector array '{name}' must have shape (n, 4) ordered (E, px, py, pz), "
            f"got shape {arr.shape}"
        )
    if n is not None and arr.shape[0] != n:
        raise ShapeError(f"four-vector array '{name}' has {arr.shape[0]} rows, expected {n}")
    return arr


def _as_flavour(flavour: np.ndarray | int, n: int) -> np.ndarray:
    arr = np.asarray(flavour)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise ShapeError(f"flavour must be a scalar or have shape ({n},), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    bad = ~((arr == 1.0) | (arr == -1.0))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        value = np.asarray(flavour).ravel()[min(i, np.asarray(flavour).size - 1)]
        raise DataError(f"flavour must be +1 (B0) or -1 (anti-B0); entry {i} is {value!r}")
    return arr.astype(np.int8)


def _as_column(x: np.ndarray | float, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ShapeError(f"'{name}' must be a scalar or have shape ({n},), got shape {arr.shape}")
    return arr


def _mdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minkowski product of (..., 4) arrays."""
    return (
        a[..., 0] * b[..., 0]
        - a[..., 1] * b[..., 1]
        - a[..., 2] * b[..., 2]
        - a[..., 3] * b[..., 3]
    )


def _mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass of (n, 4) four-vectors; negative m² (round-off) gives 0."""
    return np.sqrt(np.maximum(_mdot(p4, p4), 0.0))


def _kallen(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Källén function λ(a, b, c) = a² + b² + c² − 2ab − 2ac − 2bc."""
    return a * a + b * b + c * c - 2.0 * (a * b + a * c + b * c)


def _wrap_chi(phi: np.ndarray) -> np.ndarray:
    """Map φ to χ ∈ [0, 2π), setting a value that rounds to 2π to 0."""
    chi = np.mod(phi, _TWO_PI)
    chi[chi >= _TWO_PI] = 0.0
    return chi


@numba.njit(cache=True, nogil=True, inline="always")
def _boost_into(e, px, py, pz, bx, by, bz):  # pragma: no cover - compiled
    """Boost (e, px, py, pz) by −β (into the rest frame of a system moving with β)."""
    b2 = bx * bx + by * by + bz * bz
    gamma = 1.0 / math.sqrt(1.0 - b2)
    bp = bx * px + by * py + bz * pz
    coef = (gamma * gamma / (gamma + 1.0)) * bp - gamma * e
    return (gamma * (e - bp), px + coef * bx, py + coef * by, pz + coef * bz)


# ----------------------------------------------------------------------------------------
# Boosts
# ----------------------------------------------------------------------------------------


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Apply a pure Lorentz boost with velocity ``beta`` (active convention).

    Parameters
    ----------
    p4 : ndarray, shape (n, 4)
        Four-momenta ``(E, px, py, pz)`` in GeV.
    beta : ndarray, shape (n, 3) or (3,)
        Boost velocity (units of c), |β| < 1.  A particle at rest ends up with velocity β;
        use ``-beta`` to go into the rest frame of a system moving with β.

    Returns
    -------
    ndarray, shape (n, 4), float64
        Boosted four-momenta.

    Raises
    ------
    ShapeError
        If the shapes do not match.
    DataError
        If |β| ≥ 1 or β is not finite.
    """
    p = _as_p4(p4, "p4")
    b = np.asarray(beta, dtype=np.float64)
    if b.shape not in ((3,), (p.shape[0], 3)):
        raise ShapeError(f"beta must have shape (3,) or ({p.shape[0]}, 3), got {b.shape}")
    b2 = np.sum(b * b, axis=-1)
    if not np.all(b2 < 1.0):
        worst = float(np.sqrt(np.max(np.where(np.isfinite(b2), b2, np.inf))))
        raise DataError(f"boost velocity must satisfy |beta| < 1; got |beta| = {worst}")
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(b * p[:, 1:], axis=-1)
    # (γ − 1)/β² written as γ²/(γ + 1): exact and finite at β = 0.
    coef = (gamma * gamma / (gamma + 1.0)) * bp + gamma * p[:, 0]
    out = np.empty_like(p)
    out[:, 0] = gamma * (p[:, 0] + bp)
    out[:, 1:] = p[:, 1:] + np.asarray(coef)[..., None] * b
    return out
