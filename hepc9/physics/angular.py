"""Angular coefficients J_i(q²) and angular functions f_i (physics.md §2).

    d⁴Γ/(dq² dcosθ_ℓ dcosθ_K dχ) = (9/32π) Σ_i J_i(q²) f_i(θ_ℓ, θ_K, χ)

The J_i are written in transversity amplitudes with the full muon-mass dependence (§2.2),
multiplied by |N(q²)|² (§3.1), then converted to the LHCb angle convention by flipping the
signs of J4, J6s, J6c, J7 and J9 (§2.3).  Units: the J_i are differential in q², so the
angular integral ¾(2J1s + J1c) − ¼(2J2s + J2c) is dΓ/dq² in GeV⁻¹ (GeV per GeV²).

:func:`j_bilinear` is the real bilinear form behind every J_i: ``J(A) = j_bilinear(A, A)``.
The quadratic decomposition in the Wilson-coefficient shifts (:mod:`hepc9.physics.quadratic`)
is built from it.

The angular functions have a numba twin beside the numpy version: :func:`angular_functions_numba`
(arrays) built on the scalar kernel :func:`fill_angular_functions`, which compiled code of other
modules calls per event; :func:`angular_sum` is the compiled scalar Σ_i J_i f_i(Ω) in factored
form.  A test checks that each agrees with :func:`angular_functions` to 1e-12.  The decorators are
lazy: nothing compiles before the first call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hepc9.physics.amplitudes import amplitude_basis
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, ModelConstants, WilsonShifts

__all__ = [
    "CHUNK_SIZE",
    "J_INDEX",
    "J_NAMES",
    "LHCB_SIGNS",
    "angular_coefficients",
    "angular_functions",
    "angular_functions_numba",
    "angular_sum",
    "fill_angular_functions",
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


@njit(cache=True, nogil=True)
def fill_angular_functions(ctl, ctk, chi, f):  # pragma: no cover - compiled
    """Write the twelve f_i(cosθ_ℓ, cosθ_K, χ) of one point into ``f`` (numba scalar kernel).

    Parameters
    ----------
    ctl, ctk : float
        cosθ_ℓ and cosθ_K (values outside [−1, 1] are clipped for the sines).
    chi : float
        χ in radians.
    f : ndarray, shape (12,), float64
        Output, ordered as :data:`J_NAMES` (overwritten).
    """
    sk2 = 1.0 - ctk * ctk
    sl2 = 1.0 - ctl * ctl
    if sk2 < 0.0:
        sk2 = 0.0
    if sl2 < 0.0:
        sl2 = 0.0
    ck2 = ctk * ctk
    sk = math.sqrt(sk2)
    sl = math.sqrt(sl2)
    c2l = 2.0 * ctl * ctl - 1.0
    s2k = 2.0 * sk * ctk
    s2l = 2.0 * sl * ctl
    cphi = math.cos(chi)
    sphi = math.sin(chi)
    c2phi = 2.0 * cphi * cphi - 1.0
    s2phi = 2.0 * sphi * cphi
    f[0] = sk2
    f[1] = ck2
    f[2] = sk2 * c2l
    f[3] = ck2 * c2l
    f[4] = sk2 * sl2 * c2phi
    f[5] = s2k * s2l * cphi
    f[6] = s2k * sl * cphi
    f[7] = sk2 * ctl
    f[8] = ck2 * ctl
    f[9] = s2k * sl * sphi
    f[10] = s2k * s2l * sphi
    f[11] = sk2 * sl2 * s2phi


@njit(cache=True, nogil=True)
def _angular_batch(ctl, ctk, chi):  # pragma: no cover - compiled
    n = ctl.size
    out = np.empty((12, n))
    f = np.empty(12)
    for e in range(n):
        fill_angular_functions(ctl[e], ctk[e], chi[e], f)
        for i in range(12):
            out[i, e] = f[i]
    return out


def angular_functions_numba(
    costheta_l: np.ndarray, costheta_k: np.ndarray, chi: np.ndarray
) -> np.ndarray:
    """Numba twin of :func:`angular_functions` for 1-d arrays.

    Parameters
    ----------
    costheta_l, costheta_k, chi : ndarray, shape (n,)
        cosθ_ℓ, cosθ_K and χ (rad).

    Returns
    -------
    ndarray
        float64, shape (12, n), ordered as :data:`J_NAMES`.
    """
    return _angular_batch(
        np.ascontiguousarray(costheta_l, dtype=np.float64),
        np.ascontiguousarray(costheta_k, dtype=np.float64),
        np.ascontiguousarray(chi, dtype=np.float64),
    )


@njit(cache=True, nogil=True)
def angular_sum(j, ctl, ctk, cp, sp):  # pragma: no cover - compiled
    """Return Σ_i J_i f_i(Ω) of physics.md §2.1 without the 9/32π (numba scalar kernel).

    The sum is written in factored form (fewer products than twelve f_i).

    Parameters
    ----------
    j : ndarray, shape (12,)
        J_i at the point's q², ordered as :data:`J_NAMES`.
    ctl, ctk : float
        cosθ_ℓ and cosθ_K.
    cp, sp : float
        cos χ and sin χ.

    Returns
    -------
    float
    """
    stk2 = 1.0 - ctk * ctk
    ctk2 = ctk * ctk
    stl2 = 1.0 - ctl * ctl
    stl = math.sqrt(max(stl2, 0.0))
    stk = math.sqrt(max(stk2, 0.0))
    c2l = 2.0 * ctl * ctl - 1.0
    s2k = 2.0 * stk * ctk
    s2l = 2.0 * stl * ctl
    c2p = 2.0 * cp * cp - 1.0
    s2p = 2.0 * sp * cp
    return (
        stk2 * (j[0] + j[2] * c2l + j[7] * ctl + stl2 * (j[4] * c2p + j[11] * s2p))
        + ctk2 * (j[1] + j[3] * c2l + j[8] * ctl)
        + s2k * (stl * (j[6] * cp + j[9] * sp) + s2l * (j[5] * cp + j[10] * sp))
    )
