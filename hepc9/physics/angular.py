"""Angular coefficients J_i(q²) and angular functions f_i (physics.md §2).

    d⁴Γ/(dq² dcosθ_ℓ dcosθ_K dχ) = (9/32π) Σ_i J_i(q²) f_i(θ_ℓ, θ_K, χ)

The J_i are written in transversity amplitudes with the full muon-mass dependence (§2.2),
multiplied by |N(q²)|² (§3.1), then converted to the LHCb angle convention by flipping the
signs of J4, J6s, J6c, J7 and J9 (§2.3).  Units: the J_i are differential in q², so the
angular integral ¾(2J1s + J1c) − ¼(2J2s + J2c) is dΓ/dq² in GeV⁻¹ (GeV per GeV²).

:func:`j_bilinear` is the real bilinear form behind every J_i: ``J(A) = j_bilinear(A, A)``.
The quadratic decomposition in the Wilson-coefficient shifts (:mod:`hepc9.physics.quadratic`)
is built from it.
"""

from __future__ import annotations

import numpy as np

from hepc9.physics.amplitudes import amplitude_basis
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, ModelConstants, WilsonShifts

__all__ = [
    "CHUNK_SIZE",
    "J_INDEX",
    "J_NAMES",
    "LHCB_SIGNS",
    "angular_coefficients",
    "angular_functions",
    "j_bilinear",
]

#: Names of the twelve angular coefficients, in the order of every (12, n) array.
J_NAMES: tuple[str, ...] = ("1s", "1c", "2s", "2c", "3", "4", "5", "6s", "6c", "7", "8", "9")

#: Position of each name in :data:`J_NAMES`.
J_INDEX: dict[str, int] = {name: i for i, name in enumerate(J_NAMES)}

#: Signs converting the theory convention of arXiv:0811.1214 to the LHCb convention (§2.3).
LHCB_SIGNS = np.array([1, 1, 1, 1, 1, -1, 1, -1, -1, -1, 1, -1], dtype=np.float64)

#: Points per internal chunk of the vectorised evaluation (keeps work arrays in cache).
CHUNK_SIZE = 16384

_SQRT2 = np.sqrt(2.0)


def j_bilinear(
    a: np.ndarray,
    b: np.ndarray,
    beta2: np.ndarray,
    mass_term: np.ndarray,
) -> np.ndarray:
    """Return the twelve J_i (theory convention, no |N|²) as a bilinear form in amplitudes.

    Every product ``X Y*`` of §2.2 is replaced by ``X_a conj(Y_b)``, so ``j_bilinear(A, A)``
    gives the J_i of the amplitudes ``A`` and ``j_bilinear`` of two different amplitude sets
    gives the (non-symmetrised) cross terms of the quadratic form.

    Parameters
    ----------
    a, b : ndarray
        complex128 amplitudes stacked as :data:`hepc9.physics.amplitudes.AMPLITUDE_NAMES`
        along the first axis, shapes (7, ...) broadcastable against each other.
    beta2 : ndarray
        β_ℓ² = 1 − 4m_μ²/q², broadcastable against ``a[0]``.
    mass_term : ndarray
        4m_μ²/q², same.

    Returns
    -------
    ndarray
        float64, shape (12, *broadcast shape).
    """
    xr, xi = np.real(a), np.imag(a)
    yr, yi = np.real(b), np.imag(b)

    def re(i: int, j: int) -> np.ndarray:  # Re(X_i conj(Y_j))
        return xr[i] * yr[j] + xi[i] * yi[j]

    def im(i: int, j: int) -> np.ndarray:  # Im(X_i conj(Y_j))
        return xi[i] * yr[j] - xr[i] * yi[j]

    pl, al, zl, pr, ar, zr, t = range(7)
    beta = np.sqrt(beta2)
    pl_pl, al_al, pr_pr, ar_ar = re(pl, pl), re(al, al), re(pr, pr), re(ar, ar)
    trans = pl_pl + al_al + pr_pr + ar_ar
    long_ = re(zl, zl) + re(zr, zr)
    parts = (
        (2.0 + beta2) / 4.0 * trans + mass_term * (re(pl, pr) + re(al, ar)),  # 1s
        long_ + mass_term * (re(t, t) + 2.0 * re(zl, zr)),  # 1c
        beta2 / 4.0 * trans,  # 2s
        -beta2 * long_,  # 2c
        beta2 / 2.0 * (pl_pl - al_al + pr_pr - ar_ar),  # 3
        beta2 / _SQRT2 * (re(zl, al) + re(zr, ar)),  # 4
        _SQRT2 * beta * (re(zl, pl) - re(zr, pr)),  # 5
        2.0 * beta * (re(al, pl) - re(ar, pr)),  # 6s
        None,  # 6c: zero without scalar operators
        _SQRT2 * beta * (im(zl, al) - im(zr, ar)),  # 7
        beta2 / _SQRT2 * (im(zl, pl) + im(zr, pr)),  # 8
        beta2 * (im(pl, al) + im(pr, ar)),  # 9
    )
    shape = np.broadcast_shapes(*(np.shape(p) for p in parts if p is not None))
    out = np.empty((12, *shape), dtype=np.float64)
    for i, p in enumerate(parts):
        out[i] = 0.0 if p is None else p
    return out


def angular_coefficients(
    q2: np.ndarray | float,
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | float | None = None,
) -> np.ndarray:
    """Return the twelve angular coefficients J_i(q²) in the LHCb convention.

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², shape ``s`` (usually (n,)).
    shifts : WilsonShifts, optional
        New-physics point (default: the seed model).
    constants : ModelConstants, optional
        Model constants.
    mkpi : float or ndarray, optional
        K π mass in GeV replacing m_K* in the kinematics and form factors (scalar or
        broadcastable against ``q2``).

    Returns
    -------
    ndarray
        float64, shape (12, *s), ordered as :data:`J_NAMES`, including |N(q²)|², so
        that ¾(2J1s + J1c) − ¼(2J2s + J2c) is dΓ/dq² in GeV⁻¹ (§2.4).  Exactly zero
        outside the physical region (no NaN, no warnings).
    """
    q2 = np.asarray(q2, dtype=np.float64)
    if mkpi is not None:
        q2, mkpi = np.broadcast_arrays(q2, np.asarray(mkpi, dtype=np.float64))
    if q2.ndim == 1 and q2.size > CHUNK_SIZE:
        # cache-sized pieces: about twice as fast as one pass over long arrays
        out = np.empty((12, q2.size), dtype=np.float64)
        for start in range(0, q2.size, CHUNK_SIZE):
            sl = slice(start, start + CHUNK_SIZE)
            out[:, sl] = _angular_coefficients(
                q2[sl], shifts, constants, None if mkpi is None else mkpi[sl]
            )
        return out
    return _angular_coefficients(q2, shifts, constants, mkpi)


def _angular_coefficients(
    q2: np.ndarray,
    shifts: WilsonShifts,
    constants: ModelConstants,
    mkpi: np.ndarray | float | None,
) -> np.ndarray:
    basis, norm2, beta2, mass_term = amplitude_basis(q2, at=shifts, constants=constants, mkpi=mkpi)
    amps = basis[0]
    j = j_bilinear(amps, amps, beta2, mass_term)
    j *= norm2
    j *= LHCB_SIGNS.reshape((12,) + (1,) * (j.ndim - 1))
    return j


def angular_functions(
    costheta_l: np.ndarray | float, costheta_k: np.ndarray | float, chi: np.ndarray | float
) -> np.ndarray:
    """Return the twelve angular functions f_i of physics.md §2.1.

    Parameters
    ----------
    costheta_l, costheta_k : float or ndarray
        cosθ_ℓ and cosθ_K in [−1, 1] (values outside are clipped for the sines).
    chi : float or ndarray
        χ (or φ) in radians; only cos χ, sin χ, cos 2χ, sin 2χ enter.

    Returns
    -------
    ndarray
        float64, shape (12, *broadcast shape), ordered as :data:`J_NAMES`.
    """
    ctl = np.asarray(costheta_l, dtype=np.float64)
    ctk = np.asarray(costheta_k, dtype=np.float64)
    chi = np.asarray(chi, dtype=np.float64)
    ctl, ctk, chi = np.broadcast_arrays(ctl, ctk, chi)
    stl = np.sqrt(np.clip(1.0 - ctl * ctl, 0.0, None))
    stk = np.sqrt(np.clip(1.0 - ctk * ctk, 0.0, None))
    c2k, s2k = ctk * ctk, stk * stk
    sin2k = 2.0 * stk * ctk
    sin2l = 2.0 * stl * ctl
    cos2l = 2.0 * ctl * ctl - 1.0
    s2l = stl * stl
    cphi, sphi = np.cos(chi), np.sin(chi)
    c2phi = 2.0 * cphi * cphi - 1.0
    s2phi = 2.0 * sphi * cphi
    out = np.empty((12, *ctl.shape), dtype=np.float64)
    out[0] = s2k
    out[1] = c2k
    out[2] = s2k * cos2l
    out[3] = c2k * cos2l
    out[4] = s2k * s2l * c2phi
    out[5] = sin2k * sin2l * cphi
    out[6] = sin2k * stl * cphi
    out[7] = s2k * ctl
    out[8] = c2k * ctl
    out[9] = sin2k * stl * sphi
    out[10] = sin2k * sin2l * sphi
    out[11] = s2k * s2l * s2phi
    return out
