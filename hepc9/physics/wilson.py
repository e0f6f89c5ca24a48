"""Effective Wilson coefficients of the seed generator (physics.md §5).

``C9eff(q²) = c9_sm + Y(q²)`` with the perturbative quark-loop function ``Y`` of §5.2
(Buras–Münz / Beneke–Feldmann–Seidel form: charm, light and b loops, no charmonium
resonances).  C7eff and C10 are q²-independent.
"""

from __future__ import annotations

import numpy as np

from hepc9.physics.constants import SEED_MODEL, ModelConstants

__all__ = ["c9_effective", "h_function", "loop_function_y"]


def h_function(q2: np.ndarray | float, m: float, mu: float) -> np.ndarray:
    """Return the quark-loop function h(q², m) of physics.md §5.2.

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², strictly positive.
    m : float
        Quark mass in GeV; 0 selects the massless limit.
    mu : float
        Renormalisation scale in GeV.

    Returns
    -------
    ndarray
        complex128, shape of ``q2``.
    """
    q2 = np.asarray(q2, dtype=np.float64)
    if m == 0.0:
        return (8.0 / 27.0 - (4.0 / 9.0) * np.log(q2 / mu**2)) + 0j + (4.0 / 9.0) * np.pi * 1j
    z = 4.0 * m**2 / q2
    below = z > 1.0
    root = np.sqrt(np.abs(z - 1.0))
    # below threshold: arctan(1/sqrt(z-1)); above: log((1+sqrt(1-z))/sqrt(z)) - i pi/2
    safe_root = np.where(below, root, 1.0)
    g_below = np.arctan(1.0 / safe_root)
    zs = np.where(below, 1.0, z)
    g_above = np.log((1.0 + np.sqrt(1.0 - zs)) / np.sqrt(zs)) - 0.5j * np.pi
    g = np.where(below, g_below + 0j, g_above)
    return (
        -(4.0 / 9.0) * (np.log(m**2 / mu**2) - 2.0 / 3.0 - z) - (4.0 / 9.0) * (2.0 + z) * root * g
    )


def loop_function_y(
    q2: np.ndarray | float, *, constants: ModelConstants = SEED_MODEL
) -> np.ndarray:
    """Return Y(q²), the q²-dependent part of C9eff (physics.md §5.2).

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², strictly positive.
    constants : ModelConstants, optional
        C1..C6, m_c, m_b and μ.

    Returns
    -------
    ndarray
        complex128, shape of ``q2``.
    """
    c = constants
    return (
        h_function(q2, c.m_c, c.mu) * (4.0 / 3.0 * c.c1 + c.c2 + 6.0 * c.c3 + 60.0 * c.c5)
        - 0.5
        * h_function(q2, c.m_b_quark, c.mu)
        * (7.0 * c.c3 + 4.0 / 3.0 * c.c4 + 76.0 * c.c5 + 64.0 / 3.0 * c.c6)
        - 0.5
        * h_function(q2, 0.0, c.mu)
        * (c.c3 + 4.0 / 3.0 * c.c4 + 16.0 * c.c5 + 64.0 / 3.0 * c.c6)
        + 4.0 / 3.0 * c.c3
        + 64.0 / 9.0 * c.c5
        + 64.0 / 27.0 * c.c6
    )


def c9_effective(q2: np.ndarray | float, *, constants: ModelConstants = SEED_MODEL) -> np.ndarray:
    """Return the Standard-Model C9eff(q²) = c9_sm + Y(q²) of the seed generator.

    Parameters
    ----------
    q2 : float or ndarray
        q² in GeV², strictly positive.
    constants : ModelConstants, optional
        Model constants.

    Returns
    -------
    ndarray
        complex128, shape of ``q2`` (new-physics shifts are added by the amplitudes).
    """
    return constants.c9_sm + loop_function_y(q2, constants=constants)
