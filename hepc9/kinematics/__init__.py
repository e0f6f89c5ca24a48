"""Angles ↔ four-vectors, Lorentz boosts and the Belle II beam frame.

This is the only place where hepc9 turns four-momenta into the decay angles of
B0 → K*0(→ K+ π−) μ+ μ− and back, so one convention holds everywhere (physics.md §1.3,
formats.md §2): the LHCb convention of arXiv:1304.6325 (App. A), with the conjugate
definition for B̄0 (conjugate particles in every role and sin φ negated).

Conventions
-----------
* Four-vectors are float64 arrays of shape ``(n, 4)`` ordered ``(E, px, py, pz)`` in GeV;
  the metric is (+, −, −, −).
* ``boost(p4, beta)`` is an *active* boost: a particle at rest ends up moving with velocity
  ``beta``.  Going into the rest frame of a system moving with ``beta`` is ``boost(p4, -beta)``.
* ``flavour`` is +1 for B0 → K+ π− μ+ μ− and −1 for B̄0 → K− π+ μ− μ+.  The keys ``"k"`` and
  ``"pi"`` hold the kaon and pion of the decay whatever their charge; ``"mup"`` and ``"mum"``
  hold the physical μ+ and μ−.
* χ = φ mod 2π ∈ [0, 2π), with a value that rounds to exactly 2π set to 0.

Angles are computed with sequential boosts lab → B → pair frame; all axes and plane normals
are taken in the B frame (never lab → pair directly: the Wigner rotation would bias the
angles, formats.md §6).

Fast paths and twins
--------------------
=====================================  =================================================
numba (parallel over events)           plain numpy twin (same results to ~1e-12)
=====================================  =================================================
:func:`four_vectors_from_angles`       :func:`four_vectors_from_angles_numpy`
:func:`to_lab`                         :func:`to_lab_numpy` (same random draws)
:func:`angles_from_four_vectors`       :func:`angles_from_four_vectors_numpy` (``vector``)
=====================================  =================================================

:func:`invariant_cosines` (physics.md §1.3 Lorentz-invariant formulas) is an independent
cross-check of the boost recipe.  Degenerate or non-finite input four-vectors give NaN
angles rather than an exception, so truth columns that are NaN for background pass through.

Beam
----
:data:`BELLE2` describes SuperKEKB at the Υ(4S) as the Belle II software (basf2
``beamparameters.py``, presets ``SuperKEKB`` and ``Y4S``) does: nominal beam energies
7.0 GeV (HER, e−) and 4.0 GeV (LER, e+), scaled to 7.004 and 4.002 GeV so that √s equals
m(Υ(4S)) = 10.5794 GeV; a full horizontal crossing angle of 83 mrad, each beam at
41.5 mrad to the Belle II z axis (the HER at +41.5 mrad, the LER at π − 41.5 mrad around
the y axis); beam-energy spreads of 5.13 MeV (HER) and 2.375 MeV (LER).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np

from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.physics.constants import SEED_MODEL

__all__ = [
    "BELLE2",
    "M_B0",
    "M_ELECTRON",
    "M_K",
    "M_MU",
    "M_PI",
    "PARTICLE_KEYS",
    "BeamSpec",
    "angles_from_four_vectors",
    "angles_from_four_vectors_numpy",
    "boost",
    "four_vectors_from_angles",
    "four_vectors_from_angles_numpy",
    "invariant_cosines",
    "lab_to_cm",
    "random_rotations",
    "to_lab",
    "to_lab_numpy",
]

#: B0 mass in GeV (``SEED_MODEL.m_B0``, physics.md §1.1).
M_B0 = SEED_MODEL.m_B0
#: Charged-kaon mass in GeV (``SEED_MODEL.m_K``, physics.md §1.1).
M_K = SEED_MODEL.m_K
#: Charged-pion mass in GeV (``SEED_MODEL.m_pi``, physics.md §1.1).
M_PI = SEED_MODEL.m_pi
#: Muon mass in GeV (``SEED_MODEL.m_mu``, physics.md §1.1).
M_MU = SEED_MODEL.m_mu
#: Electron mass in GeV (PDG, physics.md §1.1); only used for the beam four-vectors.
M_ELECTRON = 0.00051099895

#: Keys of a four-vector dict, in the order the angle functions take them.
PARTICLE_KEYS = ("k", "pi", "mup", "mum")

_TWO_PI = 2.0 * math.pi


# ----------------------------------------------------------------------------------------
# Beam
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BeamSpec:
    """Energies and geometry of the two colliding beams.

    The beams cross in the horizontal (x–z) plane: the e− beam (HER) moves along
    ``(sin a, 0, cos a)`` and the e+ beam (LER) along ``(sin a, 0, −cos a)`` with
    ``a = crossing_angle / 2``, as in basf2 (HER at angle ``+a`` to the z axis, LER at
    ``π − a``).

    Parameters
    ----------
    e_her : float
        Energy of the e− (high-energy ring) beam in GeV.
    e_ler : float
        Energy of the e+ (low-energy ring) beam in GeV.
    crossing_angle : float
        Full horizontal crossing angle between the two beams in rad.
    sigma_e_her, sigma_e_ler : float
        Gaussian beam-energy spreads (absolute, GeV), used by :func:`to_lab` with
        ``energy_spread=True``.
    """

    #: HER (e−) energy [GeV]: basf2 ``Y4S`` preset, nominal 7.0 GeV scaled to √s = m(Υ(4S)).
    e_her: float = 7.004
    #: LER (e+) energy [GeV]: basf2 ``Y4S`` preset, nominal 4.0 GeV scaled to √s = m(Υ(4S)).
    e_ler: float = 4.002
    #: Full crossing angle [rad]: SuperKEKB nano-beam scheme, 2 × 41.5 mrad (basf2 ``SuperKEKB``).
    crossing_angle: float = 0.083
    #: HER energy spread [GeV] (basf2 ``SuperKEKB`` preset, ``covHER``).
    sigma_e_her: float = 0.00513
    #: LER energy spread [GeV] (basf2 ``SuperKEKB`` preset, ``covLER``).
    sigma_e_ler: float = 0.002375

    def __post_init__(self) -> None:
        for name in ("e_her", "e_ler", "crossing_angle", "sigma_e_her", "sigma_e_ler"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ConfigError(f"BeamSpec.{name} must be finite, got {value!r}")
        for name in ("e_her", "e_ler"):
            if getattr(self, name) <= M_ELECTRON:
                raise ConfigError(
                    f"BeamSpec.{name} = {getattr(self, name)!r} GeV is not above the electron "
                    "mass; give the beam energy in GeV"
                )
        if not 0.0 <= self.crossing_angle < math.pi:
            raise ConfigError(
                f"BeamSpec.crossing_angle = {self.crossing_angle!r} rad is outside [0, π); "
                "give the full crossing angle in rad (Belle II: 0.083)"
            )
        for name in ("sigma_e_her", "sigma_e_ler"):
            if getattr(self, name) < 0.0:
                raise ConfigError(f"BeamSpec.{name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def her_p4(self) -> np.ndarray:
        """Lab four-momentum of the e− beam, shape (4,), GeV."""
        return _beam_p4(np.asarray(self.e_her), self.crossing_angle, +1.0)

    @property
    def ler_p4(self) -> np.ndarray:
        """Lab four-momentum of the e+ beam, shape (4,), GeV."""
        return _beam_p4(np.asarray(self.e_ler), self.crossing_angle, -1.0)

    @property
    def p4(self) -> np.ndarray:
        """Lab four-momentum of the e+e− system, shape (4,), GeV."""
        return self.her_p4 + self.ler_p4

    @property
    def sqrt_s(self) -> float:
        """Centre-of-mass energy √s in GeV."""
        return float(_mass(self.p4[None, :])[0])

    @property
    def e_beam_cm(self) -> float:
        """Beam energy in the centre-of-mass frame, E*_beam = √s/2, in GeV."""
        return 0.5 * self.sqrt_s

    @property
    def boost_vector(self) -> np.ndarray:
        """Velocity β of the centre-of-mass frame in the lab, shape (3,) (CM → lab boost)."""
        p = self.p4
        return p[1:] / p[0]

    def b_momentum_cm(self, m_b: float = M_B0) -> float:
        """Momentum p* of each B of Υ(4S) → B B̄ in the centre-of-mass frame, in GeV.

        Parameters
        ----------
        m_b : float
            B mass in GeV.

        Returns
        -------
        float
            p* = √(E*_beam² − m_B²).
        """
        e = self.e_beam_cm
        if e < m_b:
            raise DataError(
                f"√s/2 = {e:.5f} GeV is below the B mass {m_b} GeV: beams of {self.e_her} and "
                f"{self.e_ler} GeV cannot produce a B pair; raise the beam energies"
            )
        return math.sqrt((e - m_b) * (e + m_b))


#: SuperKEKB / Belle II at the Υ(4S) (see the module docstring for the sources).
BELLE2 = BeamSpec()


def _beam_p4(energy: np.ndarray, crossing_angle: float, direction: float) -> np.ndarray:
    """Four-momenta of beam particles; ``direction`` +1 for the HER, −1 for the LER."""
    energy = np.asarray(energy, dtype=np.float64)
    p = np.sqrt((energy - M_ELECTRON) * (energy + M_ELECTRON))
    half = 0.5 * crossing_angle
    out = np.empty((*energy.shape, 4))
    out[..., 0] = energy
    out[..., 1] = p * math.sin(half)
    out[..., 2] = 0.0
    out[..., 3] = direction * p * math.cos(half)
    return out


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


def lab_to_cm(
    p4: np.ndarray | Mapping[str, np.ndarray], beam: BeamSpec = BELLE2
) -> np.ndarray | dict[str, np.ndarray]:
    """Transform lab four-momenta into the nominal e+e− centre-of-mass frame.

    Parameters
    ----------
    p4 : ndarray, shape (n, 4), or dict of such arrays
        Lab four-momenta in GeV.
    beam : BeamSpec
        Beam description (default :data:`BELLE2`).

    Returns
    -------
    ndarray, shape (n, 4), or dict of such arrays
        Same structure as ``p4``, in the centre-of-mass frame (used for M_bc and ΔE,
        physics.md §8).
    """
    beta = -beam.boost_vector
    if isinstance(p4, Mapping):
        return {key: boost(value, beta) for key, value in p4.items()}
    return boost(p4, beta)


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


# ----------------------------------------------------------------------------------------
# Rest frame → lab
# ----------------------------------------------------------------------------------------


def _sample_costheta(u: np.ndarray, b_angular: str) -> np.ndarray:
    """Polar-angle cosines of the B in the CM from uniform numbers ``u`` in [0, 1)."""
    if b_angular == "isotropic":
        return 2.0 * u - 1.0
    # pdf (3/4)(1 − c²): invert the CDF (3c − c³ + 2)/4 = u with the trigonometric root
    # of the depressed cubic that lies in [−1, 1].
    return 2.0 * np.cos((np.arccos(1.0 - 2.0 * u) - 2.0 * math.pi) / 3.0)


def _draw_beams(
    n: int, *, beam: BeamSpec, m_b: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw per-event beam four-momenta with Gaussian energy spreads.

    Collisions below the B B̄ threshold (√s < 2 m_B) produce no B pair, so their energies are
    drawn again: the result is the Gaussian truncated at threshold.
    """
    beam.b_momentum_cm(m_b)  # nominal point must be above threshold
    e_her = np.empty(n)
    e_ler = np.empty(n)
    todo = np.arange(n)
    for _ in range(1000):
        e_her[todo] = beam.e_her + beam.sigma_e_her * rng.standard_normal(todo.size)
        e_ler[todo] = beam.e_ler + beam.sigma_e_ler * rng.standard_normal(todo.size)
        total = _beam_p4(e_her[todo], beam.crossing_angle, +1.0) + _beam_p4(
            e_ler[todo], beam.crossing_angle, -1.0
        )
        todo = todo[_mass(total) < 2.0 * m_b]
        if todo.size == 0:
            break
    else:
        raise DataError(
            f"beam energies {beam.e_her} and {beam.e_ler} GeV with spreads "
            f"{beam.sigma_e_her} and {beam.sigma_e_ler} GeV rarely reach the B B̄ threshold; "
            "raise the beam energies or reduce the spreads"
        )
    return (
        _beam_p4(e_her, beam.crossing_angle, +1.0),
        _beam_p4(e_ler, beam.crossing_angle, -1.0),
    )


def _lab_boosts(
    n: int,
    *,
    rng: np.random.Generator,
    beam: BeamSpec,
    m_b: float,
    b_angular: str,
    energy_spread: bool,
    fast: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the B velocities in the CM (n, 3) and the CM → lab velocities ((n, 3) or (1, 3)).

    ``fast`` selects the numba kernel or the numpy code for the per-event B velocities; both
    consume the same random numbers.
    """
    if b_angular not in ("sin2theta", "isotropic"):
        raise ConfigError(f"b_angular must be 'sin2theta' or 'isotropic', got {b_angular!r}")
    if energy_spread:
        her, ler = _draw_beams(n, beam=beam, m_b=m_b, rng=rng)
    else:
        beam.b_momentum_cm(m_b)  # raises below threshold
        her, ler = beam.her_p4[None, :], beam.ler_p4[None, :]
    total = her + ler
    beta_cm = np.ascontiguousarray(total[:, 1:] / total[:, :1])
    e_b = 0.5 * _mass(total)
    speed = np.sqrt((e_b - m_b) * (e_b + m_b)) / e_b

    # Beam axis in the CM: direction of the e- beam after the lab → CM boost; (e1, e2, axis)
    # is a right-handed basis with e1 along y × axis.
    axis = boost(her, -beta_cm if energy_spread else -beta_cm[0])[:, 1:]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    e1 = np.cross(np.array([0.0, 1.0, 0.0]), axis)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(axis, e1)

    u = rng.random((2, n))
    sin2 = b_angular == "sin2theta"
    if fast:
        beta_b = np.empty((n, 3))
        _b_velocity_kernel(u, speed, e1, e2, np.ascontiguousarray(axis), sin2, beta_b)
    else:
        cos_t = _sample_costheta(u[0], b_angular)
        sin_t = np.sqrt(np.maximum(1.0 - cos_t * cos_t, 0.0))
        azim = _TWO_PI * u[1]
        a1 = (speed * sin_t * np.cos(azim))[:, None]
        a2 = (speed * sin_t * np.sin(azim))[:, None]
        a3 = (speed * cos_t)[:, None]
        beta_b = a1 * e1 + a2 * e2 + a3 * axis
    return beta_b, beta_cm


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _b_velocity_kernel(u, speed, e1, e2, axis, sin2, out):  # pragma: no cover - compiled
    """Numba twin of the numpy B-velocity code of :func:`_lab_boosts`."""
    n = u.shape[1]
    step = 0 if speed.shape[0] == 1 else 1
    for i in numba.prange(n):
        j = i * step
        if sin2:
            cos_t = 2.0 * math.cos((math.acos(1.0 - 2.0 * u[0, i]) - 2.0 * math.pi) / 3.0)
        else:
            cos_t = 2.0 * u[0, i] - 1.0
        sin_t = math.sqrt(max(1.0 - cos_t * cos_t, 0.0))
        azim = 2.0 * math.pi * u[1, i]
        a1 = speed[j] * sin_t * math.cos(azim)
        a2 = speed[j] * sin_t * math.sin(azim)
        a3 = speed[j] * cos_t
        for c in range(3):
            out[i, c] = a1 * e1[j, c] + a2 * e2[j, c] + a3 * axis[j, c]


def _check_p4_dict(p4: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    if not p4:
        raise ShapeError("to_lab needs at least one four-vector array")
    arrays = {key: _as_p4(value, key) for key, value in p4.items()}
    n = next(iter(arrays.values())).shape[0]
    for key, value in arrays.items():
        if value.shape[0] != n:
            raise ShapeError(f"four-vector array '{key}' has {value.shape[0]} rows, expected {n}")
    return arrays, n


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _boost_twice_kernel(p4, beta1, beta2, out):  # pragma: no cover - compiled
    """``out[i] = boost(boost(p4[i], beta1[i]), beta2[i or 0])``."""
    n = p4.shape[0]
    step = 0 if beta2.shape[0] == 1 else 1
    for i in numba.prange(n):
        j = i * step
        e, x, y, z = _boost_into(
            p4[i, 0], p4[i, 1], p4[i, 2], p4[i, 3], -beta1[i, 0], -beta1[i, 1], -beta1[i, 2]
        )
        e, x, y, z = _boost_into(e, x, y, z, -beta2[j, 0], -beta2[j, 1], -beta2[j, 2])
        out[i, 0] = e
        out[i, 1] = x
        out[i, 2] = y
        out[i, 3] = z


def to_lab(
    p4: Mapping[str, np.ndarray],
    *,
    rng: np.random.Generator,
    beam: BeamSpec = BELLE2,
    m_b: float = M_B0,
    b_angular: str = "sin2theta",
    energy_spread: bool = False,
    orient: bool = True,
) -> dict[str, np.ndarray]:
    """Move B-rest-frame four-momenta into the Belle II lab frame.

    Each decay is first turned by a uniformly random rotation in the B rest frame (the B has
    spin 0, so the decay has no preferred direction; :func:`four_vectors_from_angles` puts the
    K* along +z), then each event gets a B of momentum p* = √(s/4 − m_B²) in the Υ(4S) (e+e−)
    centre-of-mass frame with a random direction, then the CM → lab boost of ``beam``.  The
    rotation leaves every decay angle unchanged.

    Parameters
    ----------
    p4 : dict of str to ndarray, shape (n, 4)
        Four-momenta in the B rest frame (e.g. from :func:`four_vectors_from_angles`), GeV.
    rng : numpy.random.Generator
        Source of the B directions (and beam energies).
    beam : BeamSpec
        Beam description (default :data:`BELLE2`).
    m_b : float
        B mass in GeV.
    b_angular : {"sin2theta", "isotropic"}
        Distribution of the B polar angle θ* about the beam axis in the CM:
        ``"sin2theta"`` (dN/dcos θ* ∝ 1 − cos² θ*, Υ(4S) → B B̄ from e+e− annihilation)
        or ``"isotropic"``.
    energy_spread : bool
        If true, draw the two beam energies per event from Gaussians of widths
        ``beam.sigma_e_her`` and ``beam.sigma_e_ler``, so √s and the boost vary per event
        (draws below the B B̄ threshold are repeated).
    orient : bool
        Rotate each decay uniformly at random in the B frame first (drawn after the B
        directions).  Switch off only for tests of the boosts alone.

    Returns
    -------
    dict of str to ndarray, shape (n, 4), float64
        The same keys, lab four-momenta in GeV.

    Raises
    ------
    ConfigError
        If ``b_angular`` is unknown.
    DataError
        If √s/2 is below ``m_b``.
    ShapeError
        If the arrays have different lengths.

    See Also
    --------
    to_lab_numpy : the plain numpy twin (identical draws from the same ``rng`` state).
    """
    arrays, n = _check_p4_dict(p4)
    beta_b, beta_cm = _lab_boosts(
        n, rng=rng, beam=beam, m_b=m_b, b_angular=b_angular, energy_spread=energy_spread, fast=True
    )
    if orient:
        arrays = _rotate(arrays, random_rotations(n, rng=rng))
    out = {}
    for key, value in arrays.items():
        out[key] = np.empty_like(value)
        _boost_twice_kernel(value, beta_b, beta_cm, out[key])
    return out


def random_rotations(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Return ``n`` rotation matrices distributed uniformly (Haar measure) over SO(3).

    Parameters
    ----------
    n : int
        Number of rotations.
    rng : numpy.random.Generator
        Source of randomness (4n standard normals: normalised Gaussian quaternions).

    Returns
    -------
    ndarray, shape (n, 3, 3), float64
    """
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _rotate(arrays: Mapping[str, np.ndarray], rot: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for key, value in arrays.items():
        r = np.empty_like(value)
        r[:, 0] = value[:, 0]
        r[:, 1:] = np.einsum("nij,nj->ni", rot, value[:, 1:])
        out[key] = r
    return out


def to_lab_numpy(
    p4: Mapping[str, np.ndarray],
    *,
    rng: np.random.Generator,
    beam: BeamSpec = BELLE2,
    m_b: float = M_B0,
    b_angular: str = "sin2theta",
    energy_spread: bool = False,
    orient: bool = True,
) -> dict[str, np.ndarray]:
    """Plain numpy twin of :func:`to_lab` (same arguments, same random draws, same result)."""
    arrays, n = _check_p4_dict(p4)
    beta_b, beta_cm = _lab_boosts(
        n, rng=rng, beam=beam, m_b=m_b, b_angular=b_angular, energy_spread=energy_spread, fast=False
    )
    if orient:
        arrays = _rotate(arrays, random_rotations(n, rng=rng))
    if beta_cm.shape[0] == 1:
        beta_cm = beta_cm[0]
    return {key: boost(boost(value, beta_b), beta_cm) for key, value in arrays.items()}


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
    import vector

    k, pi, mup, mum, flav = _check_inputs(k, pi, mup, mum, flavour)
    is_b0 = (flav > 0)[:, None]
    l1 = np.where(is_b0, mup, mum)
    l2 = np.where(is_b0, mum, mup)

    def lv(a: np.ndarray) -> vector.MomentumNumpy4D:
        return vector.array({"E": a[:, 0], "px": a[:, 1], "py": a[:, 2], "pz": a[:, 3]})

    def xyz(v: vector.MomentumNumpy4D) -> np.ndarray:
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
