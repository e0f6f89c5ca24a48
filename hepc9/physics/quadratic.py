"""The rate as an exact quadratic form in real Wilson-coefficient shifts (physics.md §6.2).

The amplitudes are linear in the coefficients, A(at + Σθ_j e_j) = A(at) + Σ θ_j D_j, and every
J_i is a real bilinear form of the amplitudes, so with θ̃ = (1, θ_1, …, θ_k)

    J_i(at + Σθ_j e_j) = θ̃ᵀ M_i θ̃,    M_i[a, b] = ½ [B_i(D_a, D_b) + B_i(D_b, D_a)],   D_0 ≡ A(at)

(B_i the bilinear of :func:`hepc9.physics.angular.j_bilinear`).  This is exact: no finite
differences.  The 4D rate, dΓ/dq² and the total rate inherit the same structure; for δC9 alone
the rate is a + b δC9 + c δC9² with a = M[0,0], b = 2 M[0,1], c = M[1,1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepc9.errors import ShapeError
from hepc9.physics.amplitudes import amplitude_basis, check_params
from hepc9.physics.angular import LHCB_SIGNS, angular_functions, j_bilinear
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, ModelConstants, WilsonShifts
from hepc9.physics.rate import dgamma_dq2_from_j, q2_integral

__all__ = [
    "angular_coefficient_matrices",
    "dgamma_dq2_matrices",
    "normalisation_matrix",
    "quadratic_coefficients",
    "quadratic_form",
]

_PREFACTOR = 9.0 / (32.0 * np.pi)
# events per chunk: the work arrays hold 12 (k+1)² numbers per event; aim at ~2M of them,
# within these bounds (small chunks pay Python overhead, large ones leave the cache)
_CHUNK_ELEMENTS = 1 << 21
_CHUNK_RANGE = (4096, 16384)


def angular_coefficient_matrices(
    q2: np.ndarray | float,
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> np.ndarray:
    """Return the quadratic-form matrices of the twelve J_i (LHCb convention).

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², shape (n,).
    params : sequence of str, optional
        The k real shifts θ (names from ``SHIFT_NAMES``), default ``("dc9",)``.
    at : WilsonShifts, optional
        Base point θ = 0.
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass replacing m_K*.

    Returns
    -------
    ndarray
        float64, shape (12, n, k+1, k+1), symmetric in the last two axes:
        ``J_i(at + Σθ_j e_j) = θ̃ᵀ M_i θ̃``.  Zero outside the physical region.
    """
    mats = _pair_matrices(q2, params, at, constants, mkpi)
    return np.ascontiguousarray(np.moveaxis(mats, (0, 1), (-2, -1)))


def _pair_matrices(
    q2: np.ndarray | float,
    params: Sequence[str],
    at: WilsonShifts,
    constants: ModelConstants,
    mkpi: np.ndarray | float | None,
) -> np.ndarray:
    """Return the J_i matrices in the layout (k+1, k+1, 12, *s) (pairs outermost)."""
    params = check_params(params)
    basis, norm2, beta2, mass_term = amplitude_basis(
        q2, params=params, at=at, constants=constants, mkpi=mkpi
    )
    k1 = len(params) + 1
    sym = np.empty((k1, k1, 12, *basis.shape[2:]), dtype=np.float64)
    signs = LHCB_SIGNS.reshape((12,) + (1,) * (basis.ndim - 2)) * norm2
    # one bilinear per pair on contiguous (7, *s) arrays: M_ab = ½ [B(D_a, D_b) + B(D_b, D_a)]
    for i in range(k1):
        for j in range(i, k1):
            m = j_bilinear(basis[i], basis[j], beta2, mass_term)
            if j != i:
                m += j_bilinear(basis[j], basis[i], beta2, mass_term)
                m *= 0.5
            m *= signs
            sym[i, j] = m
            sym[j, i] = m
    return sym


def _as_1d(name: str, x: np.ndarray | float) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim > 1:
        raise ShapeError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    return np.atleast_1d(arr)


def quadratic_coefficients(
    q2: np.ndarray | float,
    costheta_l: np.ndarray | float,
    costheta_k: np.ndarray | float,
    chi: np.ndarray | float,
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> np.ndarray:
    """Return per-event matrices M with d⁴Γ(at + Σθ_j e_j) = θ̃ᵀ M θ̃ (physics.md §6.2).

    Parameters
    ----------
    q2, costheta_l, costheta_k, chi : float or ndarray
        Event coordinates (GeV², -, -, rad), shape (n,) (scalars broadcast).
    params : sequence of str, optional
        The k real shifts θ, default ``("dc9",)``.
    at : WilsonShifts, optional
        Base point θ = 0.
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass per event replacing m_K*.

    Returns
    -------
    ndarray
        float64, shape (n, k+1, k+1), symmetric; same units as
        :func:`hepc9.physics.rate.differential_rate`.  Events are processed in chunks, so
        memory stays bounded for large samples.
    """
    params = check_params(params)
    arrays = [
        _as_1d(n, x)
        for n, x in (
            ("q2", q2),
            ("costheta_l", costheta_l),
            ("costheta_k", costheta_k),
            ("chi", chi),
        )
    ]
    if mkpi is not None:
        arrays.append(_as_1d("mkpi", mkpi))
    try:
        arrays = list(np.broadcast_arrays(*arrays))
    except ValueError as err:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ShapeError(f"event columns have incompatible shapes: {shapes}") from err
    n = arrays[0].shape[0]
    k1 = len(params) + 1
    out = np.empty((n, k1, k1), dtype=np.float64)
    step = min(max(_CHUNK_ELEMENTS // (12 * k1 * k1), _CHUNK_RANGE[0]), _CHUNK_RANGE[1])
    for start in range(0, n, step):
        sl = slice(start, min(start + step, n))
        m_chunk = None if mkpi is None else arrays[4][sl]
        mats = _pair_matrices(arrays[0][sl], params, at, constants, m_chunk)
        f = angular_functions(arrays[1][sl], arrays[2][sl], arrays[3][sl])
        out[sl] = np.einsum("abin,in->nab", mats, _PREFACTOR * f)
    return out


def dgamma_dq2_matrices(
    q2: np.ndarray | float,
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> np.ndarray:
    """Return matrices M with dΓ/dq²(at + Σθ_j e_j) = θ̃ᵀ M θ̃.

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², shape (n,).
    params : sequence of str, optional
        The k real shifts θ, default ``("dc9",)``.
    at : WilsonShifts, optional
        Base point θ = 0.
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass replacing m_K*.

    Returns
    -------
    ndarray
        float64, shape (n, k+1, k+1) in GeV⁻¹.
    """
    mats = _pair_matrices(q2, params, at, constants, mkpi)
    return np.ascontiguousarray(
        np.moveaxis(dgamma_dq2_from_j(np.moveaxis(mats, 2, 0)), (0, 1), (-2, -1))
    )


def normalisation_matrix(
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Return 𝕄 with Γ(at + Σθ_j e_j) = θ̃ᵀ 𝕄 θ̃ over a q² window (narrow K*, no acceptance).

    Parameters
    ----------
    params : sequence of str, optional
        The k real shifts θ, default ``("dc9",)``.
    at : WilsonShifts, optional
        Base point θ = 0.
    constants : ModelConstants, optional
        Model constants.
    q2_range : (float, float), optional
        Window in GeV² (default: the full kinematic range).

    Returns
    -------
    ndarray
        float64, shape (k+1, k+1) in GeV, symmetric, relative accuracy ≈ 1e-10.
    """
    params = check_params(params)
    return q2_integral(
        lambda q: dgamma_dq2_matrices(q, params=params, at=at, constants=constants),
        q2_range=q2_range,
        constants=constants,
    )


def quadratic_form(matrices: np.ndarray, theta: np.ndarray | Sequence[float]) -> np.ndarray:
    """Evaluate θ̃ᵀ M θ̃ with θ̃ = (1, θ).

    Parameters
    ----------
    matrices : ndarray
        Shape (..., k+1, k+1).
    theta : array_like
        Shape (k,).

    Returns
    -------
    ndarray
        Shape ``matrices.shape[:-2]`` (a float for a single matrix).
    """
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    m = np.asarray(matrices, dtype=np.float64)
    if m.shape[-1] != theta.size + 1 or m.shape[-2] != theta.size + 1:
        raise ShapeError(
            f"matrices of shape {m.shape} do not match {theta.size} parameter(s): "
            f"expected trailing shape ({theta.size + 1}, {theta.size + 1})"
        )
    t = np.concatenate(([1.0], theta))
    return np.einsum("...ab,a,b->...", m, t, t)
