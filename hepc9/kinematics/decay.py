"""Decay angles → four-momenta in the B rest frame (physics.md §1.3), numba and numpy twins."""

from __future__ import annotations

import math

import numba
import numpy as np

from hepc9.errors import DataError, ShapeError
from hepc9.kinematics.boosts import (
    M_B0,
    M_K,
    M_MU,
    M_PI,
    PARTICLE_KEYS,
    _as_column,
    _as_flavour,
    _boost_into,
    _kallen,
    boost,
)

__all__ = ["four_vectors_from_angles", "four_vectors_from_angles_numpy"]


# ----------------------------------------------------------------------------------------
# Angles → four-vectors
# ----------------------------------------------------------------------------------------


def _check_decay_inputs(
    q2: np.ndarray,
    costheta_l: np.ndarray,
    costheta_k: np.ndarray,
    chi: np.ndarray,
    mkpi: np.ndarray | float,
    flavour: np.ndarray | int,
    *,
    m_b: float,
    m_k: float,
    m_pi: float,
    m_mu: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate the decay variables; return float64 columns (flavour as ±1.0)."""
    q2 = np.asarray(q2, dtype=np.float64)
    if q2.ndim != 1:
        raise ShapeError(f"q2 must be one-dimensional, got shape {q2.shape}")
    n = q2.shape[0]
    ctl = _as_column(costheta_l, n, "costheta_l")
    ctk = _as_column(costheta_k, n, "costheta_k")
    phi = _as_column(chi, n, "chi")
    mkpi = _as_column(mkpi, n, "mkpi")
    flav = _as_flavour(flavour, n).astype(np.float64)

    for name, arr in (
        ("q2", q2),
        ("costheta_l", ctl),
        ("costheta_k", ctk),
        ("chi", phi),
        ("mkpi", mkpi),
    ):
        if not np.all(np.isfinite(arr)):
            raise DataError(
                f"'{name}' contains non-finite values (first at entry "
                f"{int(np.flatnonzero(~np.isfinite(arr))[0])})"
            )
    if np.any(np.abs(ctl) > 1.0) or np.any(np.abs(ctk) > 1.0):
        raise DataError("costheta_l and costheta_k must lie in [-1, 1]")
    q2_lo = 4.0 * m_mu * m_mu
    if np.any(q2 < q2_lo) or np.any(mkpi < m_k + m_pi) or np.any(q2 > (m_b - mkpi) ** 2):
        bad = (q2 < q2_lo) | (mkpi < m_k + m_pi) | (q2 > (m_b - mkpi) ** 2)
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"entry {i} (q2 = {q2[i]!r} GeV², mkpi = {mkpi[i]!r} GeV) is outside the phase "
            f"space 4 m_mu² <= q2 <= (m_B - mkpi)², mkpi >= m_K + m_pi"
        )

    return q2, ctl, ctk, phi, mkpi, flav


def four_vectors_from_angles(
    q2: np.ndarray,
    costheta_l: np.ndarray,
    costheta_k: np.ndarray,
    chi: np.ndarray,
    mkpi: np.ndarray | float,
    flavour: np.ndarray | int,
    *,
    m_b: float = M_B0,
    m_k: float = M_K,
    m_pi: float = M_PI,
    m_mu: float = M_MU,
) -> dict[str, np.ndarray]:
    """Build the four daughters' momenta in the B rest frame from the decay variables.

    Construction of physics.md §1.3: the K* along +z and the dimuon along −z in the B frame;
    in the K* frame p_K = |p_K| (sin θK, 0, cos θK); in the dimuon frame
    p(μ+) = |p_ℓ| (−sin θℓ cos φ, +sin θℓ sin φ, −cos θℓ) for B0 and
    p(μ−) = |p_ℓ| (−sin θℓ cos φ, −sin θℓ sin φ, −cos θℓ) for B̄0; then boosts along ±z.
    The B̄0 event is the CP image of the B0 event with the same angles, up to a rotation.

    Parameters
    ----------
    q2 : ndarray, shape (n,)
        Dimuon mass squared in GeV², 4 m_μ² ≤ q² ≤ (m_B − m_Kπ)².
    costheta_l, costheta_k : ndarray, shape (n,)
        cos θℓ and cos θK in [−1, 1] (LHCb convention).
    chi : ndarray, shape (n,)
        Angle φ between the decay planes in rad (any range; only cos and sin enter).
    mkpi : ndarray, shape (n,), or float
        K π invariant mass in GeV, m_K + m_π ≤ m_Kπ.
    flavour : ndarray, shape (n,), or int
        +1 for B0, −1 for B̄0.
    m_b, m_k, m_pi, m_mu : float
        Masses in GeV.

    Returns
    -------
    dict of str to ndarray, shape (n, 4), float64
        ``"k"``, ``"pi"``, ``"mup"``, ``"mum"``: four-momenta (E, px, py, pz) in GeV in the B
        rest frame; ``"k"``/``"pi"`` are the kaon/pion whatever the charge, ``"mup"``/``"mum"``
        the physical μ+/μ−.

    Raises
    ------
    DataError
        If a value is outside the physical region.
    ShapeError
        If the lengths differ.

    See Also
    --------
    four_vectors_from_angles_numpy : the plain numpy twin.
    """
    cols = _check_decay_inputs(
        q2, costheta_l, costheta_k, chi, mkpi, flavour, m_b=m_b, m_k=m_k, m_pi=m_pi, m_mu=m_mu
    )
    out = np.empty((4, cols[0].shape[0], 4))
    _b_frame_kernel(*cols, float(m_b), float(m_k), float(m_pi), float(m_mu), out)
    return {key: out[j] for j, key in enumerate(PARTICLE_KEYS)}


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _b_frame_kernel(q2, ctl, ctk, phi, mkpi, flav, m_b, m_k, m_pi, m_mu, out):  # pragma: no cover
    """Numba version of the §1.3 construction; ``out[j, i]`` is particle j of event i."""
    n = q2.shape[0]
    mb2 = m_b * m_b
    mk2 = m_k * m_k
    mpi2 = m_pi * m_pi
    mmu2 = m_mu * m_mu
    for i in numba.prange(n):
        s = q2[i]
        m2 = mkpi[i] * mkpi[i]
        lam = mb2 * mb2 + m2 * m2 + s * s - 2.0 * (mb2 * m2 + mb2 * s + m2 * s)
        p_star = math.sqrt(max(lam, 0.0)) / (2.0 * m_b)
        e_kst = math.sqrt(m2 + p_star * p_star)
        e_qq = math.sqrt(s + p_star * p_star)
        lam_k = m2 * m2 + mk2 * mk2 + mpi2 * mpi2 - 2.0 * (m2 * mk2 + m2 * mpi2 + mk2 * mpi2)
        p_k = math.sqrt(max(lam_k, 0.0)) / (2.0 * mkpi[i])
        stk = math.sqrt(max(1.0 - ctk[i] * ctk[i], 0.0))
        p_l = math.sqrt(max(0.25 * s - mmu2, 0.0))
        stl = math.sqrt(max(1.0 - ctl[i] * ctl[i], 0.0))
        lx = -p_l * stl * math.cos(phi[i])
        ly = flav[i] * p_l * stl * math.sin(phi[i])
        lz = -p_l * ctl[i]
        e_l = math.sqrt(mmu2 + p_l * p_l)
        # K* products: boost by +p*/E_K* along z.
        bz = p_star / e_kst
        e, x, y, z = _boost_into(
            math.sqrt(mk2 + p_k * p_k), p_k * stk, 0.0, p_k * ctk[i], 0.0, 0.0, -bz
        )
        out[0, i, 0] = e
        out[0, i, 1] = x
        out[0, i, 2] = y
        out[0, i, 3] = z
        e, x, y, z = _boost_into(
            math.sqrt(mpi2 + p_k * p_k), -p_k * stk, 0.0, -p_k * ctk[i], 0.0, 0.0, -bz
        )
        out[1, i, 0] = e
        out[1, i, 1] = x
        out[1, i, 2] = y
        out[1, i, 3] = z
        # Muons: boost by p*/E_qq along -z; l1 is the mu+ for B0, the mu- for anti-B0.
        bz = -p_star / e_qq
        j1 = 2 if flav[i] > 0 else 3
        j2 = 5 - j1
        e, x, y, z = _boost_into(e_l, lx, ly, lz, 0.0, 0.0, -bz)
        out[j1, i, 0] = e
        out[j1, i, 1] = x
        out[j1, i, 2] = y
        out[j1, i, 3] = z
        e, x, y, z = _boost_into(e_l, -lx, -ly, -lz, 0.0, 0.0, -bz)
        out[j2, i, 0] = e
        out[j2, i, 1] = x
        out[j2, i, 2] = y
        out[j2, i, 3] = z


def four_vectors_from_angles_numpy(
    q2: np.ndarray,
    costheta_l: np.ndarray,
    costheta_k: np.ndarray,
    chi: np.ndarray,
    mkpi: np.ndarray | float,
    flavour: np.ndarray | int,
    *,
    m_b: float = M_B0,
    m_k: float = M_K,
    m_pi: float = M_PI,
    m_mu: float = M_MU,
) -> dict[str, np.ndarray]:
    """Plain numpy twin of :func:`four_vectors_from_angles` (same arguments and result)."""
    q2, ctl, ctk, phi, mkpi, flav = _check_decay_inputs(
        q2, costheta_l, costheta_k, chi, mkpi, flavour, m_b=m_b, m_k=m_k, m_pi=m_pi, m_mu=m_mu
    )
    n = q2.shape[0]
    mkpi2 = mkpi * mkpi
    # B frame: momentum of the K* and of the dimuon (back to back along z).
    p_star = np.sqrt(np.maximum(_kallen(np.full(n, m_b * m_b), mkpi2, q2), 0.0)) / (2.0 * m_b)
    e_kst = np.sqrt(mkpi2 + p_star * p_star)
    e_qq = np.sqrt(q2 + p_star * p_star)

    # K* frame.
    p_k = np.sqrt(
        np.maximum(_kallen(mkpi2, np.full(n, m_k * m_k), np.full(n, m_pi * m_pi)), 0.0)
    ) / (2.0 * mkpi)
    stk = np.sqrt(np.maximum(1.0 - ctk * ctk, 0.0))
    k = np.empty((n, 4))
    k[:, 0] = np.sqrt(m_k * m_k + p_k * p_k)
    k[:, 1] = p_k * stk
    k[:, 2] = 0.0
    k[:, 3] = p_k * ctk
    pi = np.empty((n, 4))
    pi[:, 0] = np.sqrt(m_pi * m_pi + p_k * p_k)
    pi[:, 1:] = -k[:, 1:]

    # Dimuon frame: l1 is the mu+ for B0 and the mu- for anti-B0.
    p_l = np.sqrt(np.maximum(0.25 * q2 - m_mu * m_mu, 0.0))
    stl = np.sqrt(np.maximum(1.0 - ctl * ctl, 0.0))
    l1 = np.empty((n, 4))
    l1[:, 0] = np.sqrt(m_mu * m_mu + p_l * p_l)
    l1[:, 1] = -p_l * stl * np.cos(phi)
    l1[:, 2] = flav * p_l * stl * np.sin(phi)
    l1[:, 3] = -p_l * ctl
    l2 = np.empty((n, 4))
    l2[:, 0] = l1[:, 0]
    l2[:, 1:] = -l1[:, 1:]

    beta_kst = np.zeros((n, 3))
    beta_kst[:, 2] = p_star / e_kst
    beta_qq = np.zeros((n, 3))
    beta_qq[:, 2] = -p_star / e_qq
    k = boost(k, beta_kst)
    pi = boost(pi, beta_kst)
    l1 = boost(l1, beta_qq)
    l2 = boost(l2, beta_qq)
    is_b0 = (flav > 0)[:, None]
    return {
        "k": k,
        "pi": pi,
        "mup": np.where(is_b0, l1, l2),
        "mum": np.where(is_b0, l2, l1),
    }
