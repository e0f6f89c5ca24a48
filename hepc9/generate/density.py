"""Proposal densities of the generator: the rate itself, or flatter ones for efficiency samples.

``[generate] density`` (``sample_events(..., density=...)``) chooses the 4D density the events
are drawn from.  All three share the q² spectrum dΓ/dq²(q²; θ_gen) of the generation point and
differ in the angles:

``"rate"`` (default)
    the decay rate d⁴Γ(x; θ_gen): physics samples (pseudo-data, training data);
``"flat_angles"``
    dΓ/dq²(q²; θ_gen) × 1/(8π): uniform in cosθℓ, cosθK and χ at every q²;
``"mixture"``
    ½ rate + ½ flat_angles (:data:`MIXTURE_FLAT_FRACTION`): per event the angles come from the
    rate or from the flat density with probability ½ each.

The efficiency (acceptance) sample of the likelihood fit weights every accepted event by
1/p_gen(x_true) (:mod:`hepc9.fit.acceptance`).  With ``"rate"`` the weights 1/rate vary strongly
over the angles (the longitudinal K* polarisation leaves regions of small rate), and their Kish
effective size is about ⅓ of the accepted events; the flat angular density keeps only the q²
dependence of the weights.  The density is recorded as the key ``"density"`` of the file
metadata (absent in older files: ``"rate"``), so that ``hepc9 fit --efficiency`` uses the right
weights.

With a per-event m(Kπ) (``line_shape = "relbw"``) the same holds at the drawn mass: the angles of
a flat event are uniform given (m, q²), so p_gen ∝ ls(m)/Γ(m) · [(1 − a) rate(x; m) + a
dΓ/dq²(q²; m)/(8π)], and the common factor ls(m)/Γ(m) is left out of the weights as for the rate.
"""

from __future__ import annotations

import math

import numpy as np

from hepc9.errors import DataError, did_you_mean
from hepc9.physics.constants import SEED_MODEL, ModelConstants, WilsonShifts
from hepc9.physics.rate import dgamma_dq2, differential_rate

__all__ = [
    "DENSITIES",
    "MIXTURE_FLAT_FRACTION",
    "check_density",
    "density_from_meta",
    "flat_fraction",
    "proposal_density",
]

#: Names of the generator densities, the default first.
DENSITIES = ("rate", "flat_angles", "mixture")

#: Probability of the flat angular component in ``"mixture"``.
MIXTURE_FLAT_FRACTION = 0.5

_FLAT_FRACTION = {"rate": 0.0, "flat_angles": 1.0, "mixture": MIXTURE_FLAT_FRACTION}
_ANGULAR_VOLUME = 8.0 * math.pi  # ∫ dcosθℓ dcosθK dχ


def check_density(density: object, *, what: str = "density") -> str:
    """Return ``density`` if it names a generator density, else raise a one-line error.

    Parameters
    ----------
    density : object
        The name given.
    what : str
        Where the name comes from, for the message (e.g. a file's metadata).

    Returns
    -------
    str

    Raises
    ------
    DataError
        For an unknown name, listing the choices and the closest one.
    """
    if density not in DENSITIES:
        raise DataError(
            f"{what} = {density!r} is not a generator density{did_you_mean(density, DENSITIES)}"
            f" (choose from {', '.join(DENSITIES)})"
        )
    return str(density)


def density_from_meta(meta: dict, *, what: str) -> str:
    """Return the generator density recorded in a file's metadata (``"rate"`` when absent).

    Parameters
    ----------
    meta : dict
        The file's ``hepc9_meta``.
    what : str
        The file, for the message.

    Returns
    -------
    str

    Raises
    ------
    DataError
        For an unknown name.
    """
    return check_density(meta.get("density", "rate"), what=f"{what}: metadata 'density'")


def flat_fraction(density: str) -> float:
    """Return the probability a that an event's angles are drawn flat (0 for ``"rate"``)."""
    return _FLAT_FRACTION[check_density(density)]


def proposal_density(
    q2: np.ndarray,
    costheta_l: np.ndarray,
    costheta_k: np.ndarray,
    chi: np.ndarray,
    *,
    density: str,
    shifts: WilsonShifts,
    constants: ModelConstants = SEED_MODEL,
    mkpi: np.ndarray | None = None,
) -> np.ndarray:
    """Return the generator density at the points, up to one constant factor.

    p(x) ∝ (1 − a) d⁴Γ(x; θ) + a dΓ/dq²(q²; θ)/(8π) with a = :func:`flat_fraction`, i.e.
    :func:`hepc9.physics.rate.differential_rate` for ``"rate"`` (the same call, so the rate
    weights are unchanged).

    Parameters
    ----------
    q2, costheta_l, costheta_k, chi : ndarray
        Points (true kinematics), shape (n,).
    density : str
        One of :data:`DENSITIES`.
    shifts : WilsonShifts
        Generation point.
    constants : ModelConstants
    mkpi : ndarray, optional
        Per-event m(Kπ) replacing m_K*.

    Returns
    -------
    ndarray
        float64, shape (n,), in GeV⁻¹ per unit of the angles (zero outside the phase space).
    """
    a = flat_fraction(density)
    q2 = np.asarray(q2, dtype=np.float64)
    if a == 0.0:
        return differential_rate(q2, costheta_l, costheta_k, chi, shifts=shifts,
                                 constants=constants, mkpi=mkpi)
    out = a / _ANGULAR_VOLUME * dgamma_dq2(q2, shifts=shifts, constants=constants, mkpi=mkpi)
    if a < 1.0:
        out += (1.0 - a) * differential_rate(q2, costheta_l, costheta_k, chi, shifts=shifts,
                                             constants=constants, mkpi=mkpi)
    return out
