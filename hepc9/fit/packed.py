"""Packed symmetric quadratic forms: storage and monomials (physics.md §6).

The rate of an event is an exact quadratic form θ̃ᵀ M θ̃ in the free shifts, θ̃ = (1, θ1..θk),
K = k + 1.  The symmetric M is stored *packed*: its K(K+1)/2 upper-triangle entries, row major,
so that ``θ̃ᵀ M θ̃ = C · m(θ)`` with the monomial vector ``m_(ij) = θ̃_i θ̃_j`` (doubled for
i < j).  This module holds the packing and the monomials with their first and second
derivatives; the likelihood kernels (:mod:`hepc9.fit.kernels`) contract with them.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from hepc9.errors import ShapeError

__all__ = [
    "monomial_jacobian",
    "monomial_second",
    "monomials",
    "n_packed",
    "pack_matrices",
    "unpack",
]


def n_packed(k: int) -> int:
    """Return the number of packed coefficients K(K+1)/2 for ``k`` free parameters (K = k+1)."""
    kk = int(k) + 1
    return kk * (kk + 1) // 2


@functools.lru_cache(maxsize=16)
def _triu(k: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(int(k) + 1)
    i.setflags(write=False)
    j.setflags(write=False)
    return i, j


def pack_matrices(matrices: np.ndarray) -> np.ndarray:
    """Pack symmetric matrices into their upper triangles.

    Parameters
    ----------
    matrices : ndarray, shape (..., K, K)
        Symmetric matrices (float64).

    Returns
    -------
    ndarray, shape (..., K(K+1)/2), float64
        Entries M_ij, i ≤ j, row major.
    """
    m = np.asarray(matrices, dtype=np.float64)
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise ShapeError(f"expected (..., K, K) symmetric matrices, got shape {m.shape}")
    iu = np.triu_indices(m.shape[-1])
    return np.ascontiguousarray(m[..., iu[0], iu[1]])


def unpack(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_matrices`.

    Parameters
    ----------
    packed : ndarray, shape (..., P)
        Packed upper triangles, P = K(K+1)/2.

    Returns
    -------
    ndarray, shape (..., K, K), float64
    """
    c = np.asarray(packed, dtype=np.float64)
    p = c.shape[-1]
    kk = round((math.sqrt(8 * p + 1) - 1) / 2)
    if kk * (kk + 1) // 2 != p:
        raise ShapeError(f"{p} is not a triangular number of packed coefficients")
    iu = np.triu_indices(kk)
    out = np.zeros((*c.shape[:-1], kk, kk))
    out[..., iu[0], iu[1]] = c
    out[..., iu[1], iu[0]] = c
    return out


def monomials(theta: np.ndarray) -> np.ndarray:
    """Return the monomial vector m(θ) with ``C · m(θ) = θ̃ᵀ M θ̃``.

    Parameters
    ----------
    theta : ndarray, shape (k,)
        Free parameters (shifts relative to the expansion point).

    Returns
    -------
    ndarray, shape (K(K+1)/2,), float64
        θ̃_i θ̃_j, doubled for i < j.
    """
    t = np.concatenate(([1.0], np.asarray(theta, dtype=np.float64).ravel()))
    i, j = _triu(t.size - 1)
    return t[i] * t[j] * np.where(i == j, 1.0, 2.0)


def monomial_jacobian(theta: np.ndarray) -> np.ndarray:
    """Return ∂m/∂θ.

    Parameters
    ----------
    theta : ndarray, shape (k,)

    Returns
    -------
    ndarray, shape (K(K+1)/2, k), float64
    """
    t = np.concatenate(([1.0], np.asarray(theta, dtype=np.float64).ravel()))
    k = t.size - 1
    i, j = _triu(k)
    s = np.where(i == j, 1.0, 2.0)
    jac = np.zeros((i.size, k))
    for a in range(1, k + 1):
        jac[:, a - 1] = s * ((i == a) * t[j] + (j == a) * t[i])
    return jac


@functools.lru_cache(maxsize=16)
def monomial_second(k: int) -> np.ndarray:
    """Return ∂²m/∂θ_a∂θ_b, constant in θ (cached, read-only).

    Parameters
    ----------
    k : int
        Number of free parameters.

    Returns
    -------
    ndarray, shape (K(K+1)/2, k, k), float64
    """
    i, j = _triu(k)
    s = np.where(i == j, 1.0, 2.0)
    out = np.zeros((i.size, k, k))
    for a in range(1, k + 1):
        for b in range(1, k + 1):
            out[:, a - 1, b - 1] = s * (((i == a) & (j == b)) + 0.0 + ((i == b) & (j == a)))
    out.setflags(write=False)
    return out
