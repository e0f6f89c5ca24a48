"""Four-momenta → decay angles (physics.md §1.3), numba and ``vector`` twins, invariant cosines."""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import vector

from hepc9.kinematics.boosts import (
    M_K,
    M_MU,
    M_PI,
    _as_flavour,
    _as_p4,
    _boost_into,
    _kallen,
    _mdot,
    _wrap_chi,
)

__all__ = ["angles_from_four_vectors", "angles_from_four_vectors_numpy", "invariant_cosines"]


# ----------------------------------------------------------------------------------------
# Four-vectors → angles
# ----------------------------------------------------------------------------------------


def _check_inputs(
    k: np.ndarray, pi: np.ndarray, mup: np.ndarray, mum: np.ndarray, flavour: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    k = _as_p4(k, "k")
    n = k.shape[0]
    pi = _as_p4(pi, "pi", n)
    mup = _as_p4(mup, "mup", n)
    mum = _as_p4(mum, "mum", n)
    return k, pi, mup, mum, _as_flavour(flavour, n)


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _angles_kernel(k, pi, mup, mum, flavour, out):  # pragma: no cover - compiled
    n = k.shape[0]
    for i in numba.prange(n):
        f = flavour[i]
        # l1 is the mu+ for B0 and the mu- for anti-B0 (conjugate definition).
        if f > 0:
            l1 = mup[i]
            l2 = mum[i]
        else:
            l1 = mum[i]
            l2 = mup[i]
        ka = k[i]
        pa = pi[i]
        # Invariant masses (frame independent).
        qe = l1[0] + l2[0]
        qx = l1[1] + l2[1]
        qy = l1[2] + l2[2]
        qz = l1[3] + l2[3]
        ke = ka[0] + pa[0]
        kx = ka[1] + pa[1]
        ky = ka[2] + pa[2]
        kz = ka[3] + pa[3]
        q2 = qe * qe - qx * qx - qy * qy - qz * qz
        mk2 = ke * ke - kx * kx - ky * ky - kz * kz
        # Lab -> B frame.
        be = qe + ke
        bbx = (qx + kx) / be
        bby = (qy + ky) / be
        bbz = (qz + kz) / be
        l1e, l1x, l1y, l1z = _boost_into(l1[0], l1[1], l1[2], l1[3], bbx, bby, bbz)
        l2e, l2x, l2y, l2z = _boost_into(l2[0], l2[1], l2[2], l2[3], bbx, bby, bbz)
        kae, kax, kay, kaz = _boost_into(ka[0], ka[1], ka[2], ka[3], bbx, bby, bbz)
        pae, pax, pay, paz = _boost_into(pa[0], pa[1], pa[2], pa[3], bbx, bby, bbz)
        # Pair momenta in the B frame.
        qe = l1e + l2e
        qx = l1x + l2x
        qy = l1y + l2y
        qz = l1z + l2z
        ke = kae + pae
        kx = kax + pax
        ky = kay + pay
        kz = kaz + paz
        qn = math.sqrt(qx * qx + qy * qy + qz * qz)
        kn = math.sqrt(kx * kx + ky * ky + kz * kz)
        # B frame -> pair frames, along the pair directions seen in the B frame.
        _, sx, sy, sz = _boost_into(l1e, l1x, l1y, l1z, qx / qe, qy / qe, qz / qe)
        sn = math.sqrt(sx * sx + sy * sy + sz * sz)
        ctl = (sx * qx + sy * qy + sz * qz) / (sn * qn)
        _, tx, ty, tz = _boost_into(kae, kax, kay, kaz, kx / ke, ky / ke, kz / ke)
        tn = math.sqrt(tx * tx + ty * ty + tz * tz)
        ctk = (tx * kx + ty * ky + tz * kz) / (tn * kn)
        # Plane normals in the B frame (normalisation cancels in atan2).
        nlx = l1y * l2z - l1z * l2y
        nly = l1z * l2x - l1x * l2z
        nlz = l1x * l2y - l1y * l2x
        nkx = kay * paz - kaz * pay
        nky = kaz * pax - kax * paz
        nkz = kax * pay - kay * pax
        cphi = nkx * nlx + nky * nly + nkz * nlz
        cx = nly * nkz - nlz * nky
        cy = nlz * nkx - nlx * nkz
        cz = nlx * nky - nly * nkx
        sphi = f * (cx * kx + cy * ky + cz * kz) / kn
        chi = math.atan2(sphi, cphi)
        if chi < 0.0:
            chi += 2.0 * math.pi
            if chi >= 2.0 * math.pi:
                chi = 0.0
        # Clip without touching NaN (degenerate or non-finite input stays NaN).
        if ctl > 1.0:
            ctl = 1.0
        elif ctl < -1.0:
            ctl = -1.0
        if ctk > 1.0:
            ctk = 1.0
        elif ctk < -1.0:
            ctk = -1.0
        if mk2 < 0.0:
            mk2 = 0.0
        out[0, i] = q2
        out[1, i] = ctl
        out[2, i] = ctk
        out[3, i] = chi
        out[4, i] = math.sqrt(mk2)


_ANGLE_KEYS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi")


def angles_from_four_vectors(
    k: np.ndarray,
    pi: np.ndarray,
    mup: np.ndarray,
    mum: np.ndarray,
    flavour: np.ndarray | int,
) -> dict[str, np.ndarray]:
    """Compute q², the LHCb angles and m_Kπ from four-momenta (numba fast path).

    Sequential boosts lab → B → pair frame (formats.md §2); the B four-momentum is the sum
    of the four daughters, so any frame works as input.  For B̄0 (``flavour == -1``) θℓ uses
    the μ−, the normal of the dimuon plane is p̂(μ−) × p̂(μ+) and sin φ is negated
    (physics.md §1.3).  Runs in parallel over events with numba's thread count.

    Parameters
    ----------
    k, pi : ndarray, shape (n, 4)
        Four-momenta (E, px, py, pz) of the kaon and pion of the decay, GeV.
    mup, mum : ndarray, shape (n, 4)
        Four-momenta of the physical μ+ and μ−, GeV.
    flavour : ndarray, shape (n,), or int
        +1 for B0, −1 for B̄0.

    Returns
    -------
    dict of str to ndarray, shape (n,), float64
        ``q2`` [GeV²], ``costheta_l``, ``costheta_k`` (clipped to [−1, 1]), ``chi`` [rad, in
        [0, 2π)], ``mkpi`` [GeV].  Degenerate events (collinear daughters) give NaN.

    See Also
    --------
    angles_from_four_vectors_numpy : the plain numpy twin.
    """
    k, pi, mup, mum, flav = _check_inputs(k, pi, mup, mum, flavour)
    out = np.empty((5, k.shape[0]))
    _angles_kernel(k, pi, mup, mum, flav, out)
    return {key: out[j] for j, key in enumerate(_ANGLE_KEYS)}


def angles_from_four_vectors_numpy(
    k: np.ndarray,
    pi: np.ndarray,
    mup: np.ndarray,
    mum: np.ndarray,
    flavour: np.ndarray | int,
) -> dict[str, np.ndarray]:
    """Plain numpy twin of :func:`angles_from_four_vectors` (boosts by ``vector``).

    Parameters
    ----------
    k, pi : ndarray, shape (n, 4)
        Four-momenta (E, px, py, pz) of the kaon and pion of the decay, GeV.
    mup, mum : ndarray, shape (n, 4)
        Four-momenta of the physical μ+ and μ−, GeV.
    flavour : ndarray, shape (n,), or int
        +1 for B0, −1 for B̄0.

    Returns
    -------
    dict of str to ndarray, shape (n,), float64
        Same keys and conventions as :func:`angles_from_four_vectors`.
    """
    k, pi, mup, mum, flav = _check_inputs(k, pi, mup, mum, flavour)
    is_b0 = (flav > 0)[:, None]
    l1 = np.where(is_b0, mup, mum)
    l2 = np.where(is_b0, mum, mup)

    def lv(a: np.ndarray) -> Any:  # a vector.MomentumNumpy4D
        return vector.array({"E": a[:, 0], "px": a[:, 1], "py": a[:, 2], "pz": a[:, 3]})

    def xyz(v: Any) -> np.ndarray:
        return np.stack([v.px, v.py, v.pz], axis=1)

    v_l1, v_l2, v_k, v_pi = lv(l1), lv(l2), lv(k), lv(pi)
    q_lab = v_l1 + v_l2
    kst_lab = v_k + v_pi
    b_lab = q_lab + kst_lab
    # Lab -> B frame.
    l1_b = v_l1.boostCM_of_p4(b_lab)
    l2_b = v_l2.boostCM_of_p4(b_lab)
    k_b = v_k.boostCM_of_p4(b_lab)
    pi_b = v_pi.boostCM_of_p4(b_lab)
    q_b = l1_b + l2_b
    kst_b = k_b + pi_b
    # B frame -> pair frames.
    l1_q = l1_b.boostCM_of_p4(q_b)
    k_kst = k_b.boostCM_of_p4(kst_b)

    q_dir = xyz(q_b)
    q_dir /= np.linalg.norm(q_dir, axis=1, keepdims=True)
    kst_dir = xyz(kst_b)
    kst_dir /= np.linalg.norm(kst_dir, axis=1, keepdims=True)
    l1_dir = xyz(l1_q)
    l1_dir /= np.linalg.norm(l1_dir, axis=1, keepdims=True)
    k_dir = xyz(k_kst)
    k_dir /= np.linalg.norm(k_dir, axis=1, keepdims=True)
    ctl = np.clip(np.sum(l1_dir * q_dir, axis=1), -1.0, 1.0)
    ctk = np.clip(np.sum(k_dir * kst_dir, axis=1), -1.0, 1.0)

    n_l = np.cross(xyz(l1_b), xyz(l2_b))
    n_k = np.cross(xyz(k_b), xyz(pi_b))
    cphi = np.sum(n_k * n_l, axis=1)
    sphi = flav * np.sum(np.cross(n_l, n_k) * kst_dir, axis=1)
    chi = _wrap_chi(np.arctan2(sphi, cphi))

    return {
        "q2": np.asarray(q_lab.tau2, dtype=np.float64),
        "costheta_l": ctl,
        "costheta_k": ctk,
        "chi": chi,
        "mkpi": np.sqrt(np.maximum(np.asarray(kst_lab.tau2, dtype=np.float64), 0.0)),
    }


def invariant_cosines(
    k: np.ndarray,
    pi: np.ndarray,
    mup: np.ndarray,
    mum: np.ndarray,
    flavour: np.ndarray | int,
    *,
    m_k: float = M_K,
    m_pi: float = M_PI,
    m_mu: float = M_MU,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute cos θℓ and cos θK from the Lorentz-invariant formulas of physics.md §1.3.

    With ℓ1 = μ+ (B0) or μ− (B̄0), ℓ2 the other muon, q = ℓ1 + ℓ2, k = p_K + p_π, M² = (k + q)²:
    cos θℓ = 2 k·(ℓ1 − ℓ2) / (β_ℓ √λ(M², m_Kπ², q²)) and
    cos θK = [2 m_Kπ² q·(p_K − p_π) − (M² − m_Kπ² − q²)(m_K² − m_π²)] /
    (√λ(M², m_Kπ², q²) √λ(m_Kπ², m_K², m_π²)).  Usable in any frame.

    Parameters
    ----------
    k, pi : ndarray, shape (n, 4)
        Four-momenta of the kaon and pion of the decay, GeV.
    mup, mum : ndarray, shape (n, 4)
        Four-momenta of the physical μ+ and μ−, GeV.
    flavour : ndarray, shape (n,), or int
        +1 for B0, −1 for B̄0.
    m_k, m_pi, m_mu : float
        Daughter masses in GeV entering β_ℓ and the K* decay momentum.

    Returns
    -------
    costheta_l, costheta_k : ndarray, shape (n,), float64
        Cosines clipped to [−1, 1].
    """
    k, pi, mup, mum, flav = _check_inputs(k, pi, mup, mum, flavour)
    is_b0 = (flav > 0)[:, None]
    l1 = np.where(is_b0, mup, mum)
    l2 = np.where(is_b0, mum, mup)
    q = l1 + l2
    kst = k + pi
    q2 = _mdot(q, q)
    mk2 = _mdot(kst, kst)
    big_m2 = _mdot(q + kst, q + kst)
    beta_l = np.sqrt(np.maximum(1.0 - 4.0 * m_mu * m_mu / q2, 0.0))
    sqrt_lam = np.sqrt(np.maximum(_kallen(big_m2, mk2, q2), 0.0))
    sqrt_lam_k = np.sqrt(
        np.maximum(_kallen(mk2, np.full_like(mk2, m_k * m_k), np.full_like(mk2, m_pi * m_pi)), 0.0)
    )
    ctl = 2.0 * _mdot(kst, l1 - l2) / (beta_l * sqrt_lam)
    ctk = (2.0 * mk2 * _mdot(q, k - pi) - (big_m2 - mk2 - q2) * (m_k * m_k - m_pi * m_pi)) / (
        sqrt_lam * sqrt_lam_k
    )
    return np.clip(ctl, -1.0, 1.0), np.clip(ctk, -1.0, 1.0)
