"""B rest frame → lab: B directions and velocities, beam effects, random rotations.

:func:`to_lab` (numba) and :func:`to_lab_numpy` (plain numpy, the same random draws) give the B
a random direction in the Υ(4S) frame and boost its daughters to the lab.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numba
import numpy as np

from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.kinematics.beams import BELLE2, BeamSpec, _beam_p4
from hepc9.kinematics.boosts import _TWO_PI, M_B0, _as_p4, _boost_into, _mass, boost

__all__ = ["random_rotations", "to_lab", "to_lab_numpy"]


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
