"""Numba kernels of the fast sampler: guided draws, angular accept–reject, chunk fillers.

Every kernel is ``njit(cache=True, nogil=True)``; its ``py_func`` is the plain-Python twin that
the tests run against the compiled code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hepc9.generate.mapping import _MAP_POWER, _TWO_PI

# Σ J_i f_i(Ω) with cos φ, sin φ: the numba twin that lives beside its numpy twin in physics.
from hepc9.physics.angular import angular_sum as _angular_sum

__all__: list[str] = []


# --------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _max_quadratic_cell(alpha, beta, gamma, y0, y1):  # pragma: no cover - compiled
    """Exact maximum of α + βy + γy² over [y0, y1] (scalar twin of _max_quadratic_cells)."""
    best = max(alpha + beta * y0 + gamma * y0 * y0, alpha + beta * y1 + gamma * y1 * y1)
    if gamma < 0.0:
        yv = -beta / (2.0 * gamma)
        if y0 <= yv <= y1:
            best = max(best, alpha + beta * yv + gamma * yv * yv)
    return best


@njit(cache=True, nogil=True)
def _angular_bound_kernel(jt, y0, y1, s_max, t_max, out):  # pragma: no cover - compiled
    """Numba version of :func:`_angular_bound` for J of shape (n, 12); fills ``out`` (n,)."""
    for i in range(jt.shape[0]):
        j = jt[i]
        r = math.sqrt(j[4] * j[4] + j[11] * j[11])
        a_al, a_be, a_ga = j[0] - j[2] + r, j[7], 2.0 * j[2] - r
        b_al, b_be, b_ga = j[1] - j[3], j[8], 2.0 * j[3]
        n1 = math.sqrt(j[6] * j[6] + j[9] * j[9])
        n2 = math.sqrt(j[5] * j[5] + j[10] * j[10])
        best = -math.inf
        for c in range(y0.shape[0]):
            a = max(_max_quadratic_cell(a_al, a_be, a_ga, y0[c], y1[c]), 0.0)
            b = max(_max_quadratic_cell(b_al, b_be, b_ga, y0[c], y1[c]), 0.0)
            cc = n1 * s_max[c] + n2 * t_max[c]
            best = max(best, 0.5 * (a + b + math.sqrt((a - b) ** 2 + 4.0 * cc * cc)))
        out[i] = best * (1.0 + 1e-9)


@njit(cache=True, nogil=True)
def _draw_guided(gen, grid, dens, cdf, guide):  # pragma: no cover - compiled
    """Draw x from a piecewise-linear density on ``grid``; return (interval, fraction, x).

    ``guide[i]`` is the interval holding the CDF value i/L · cdf[-1] (Chen–Asau guide
    table), so the interval search takes O(1) steps on average.
    """
    g = dens.shape[0]
    u = gen.random()
    target = u * cdf[g - 1]
    lo = guide[int(u * guide.shape[0])]
    while lo < g - 2 and cdf[lo + 1] <= target:
        lo += 1
    h = grid[lo + 1] - grid[lo]
    r = (target - cdf[lo]) / h
    d0 = dens[lo]
    a = 0.5 * (dens[lo + 1] - d0)
    disc = d0 * d0 + 4.0 * a * r
    if disc < 0.0:
        disc = 0.0
    den = d0 + math.sqrt(disc)
    s = 2.0 * r / den if den > 0.0 else 0.5
    if s < 0.0:
        s = 0.0
    elif s > 1.0:
        s = 1.0
    return lo, s, grid[lo] + s * h


@njit(cache=True, nogil=True)
def _map_q2(v, q2_lo, q2_hi, pa, pb):  # pragma: no cover - compiled
    """Scalar version of :func:`_v_to_q2` for exponents 1 or 2 (see :func:`_map_powers`)."""
    w = 1.0 - v
    a = v * v if pa == 2.0 else v
    b = w * w if pb == 2.0 else w
    return q2_lo + (q2_hi - q2_lo) * (a / (a + b))


@njit(cache=True, nogil=True)
def _draw_angles(gen, j, bound, out_i, ctl_out, ctk_out, chi_out):  # pragma: no cover
    """Accept–reject (cosθℓ, cosθK, χ) at fixed J (12,) under ``bound`` into slot ``out_i``.

    φ is drawn without trigonometric calls: for (a, b) uniform in the unit disc,
    cos φ = (a² − b²)/r² and sin φ = 2ab/r² belong to φ = 2 atan2(b, a), which is uniform;
    χ = φ mod 2π is computed for the accepted point only.
    """
    while True:
        ctl = 2.0 * gen.random() - 1.0
        ctk = 2.0 * gen.random() - 1.0
        while True:
            a = 2.0 * gen.random() - 1.0
            b = 2.0 * gen.random() - 1.0
            r2 = a * a + b * b
            if 0.0 < r2 <= 1.0:
                break
        inv = 1.0 / r2
        cp = (a * a - b * b) * inv
        sp = 2.0 * a * b * inv
        if gen.random() * bound <= _angular_sum(j, ctl, ctk, cp, sp):
            ctl_out[out_i] = ctl
            ctk_out[out_i] = ctk
            chi = math.atan2(sp, cp)
            if chi < 0.0:
                chi += _TWO_PI
                if chi >= _TWO_PI:
                    chi = 0.0
            chi_out[out_i] = chi
            return


@njit(cache=True, nogil=True)
def _draw_angles_or_flat(gen, j, bound, flat, out_i, ctl_out, ctk_out, chi_out):  # pragma: no cover
    """Draw the angles of slot ``out_i``: uniform with probability ``flat``, else from J.

    For ``flat == 0`` no extra random number is drawn, so the rate density consumes exactly
    the stream of :func:`_draw_angles` (the default output is unchanged).
    """
    if flat > 0.0 and (flat >= 1.0 or gen.random() < flat):
        ctl_out[out_i] = 2.0 * gen.random() - 1.0
        ctk_out[out_i] = 2.0 * gen.random() - 1.0
        chi = _TWO_PI * gen.random()
        chi_out[out_i] = 0.0 if chi >= _TWO_PI else chi
        return
    _draw_angles(gen, j, bound, out_i, ctl_out, ctk_out, chi_out)


@njit(cache=True, nogil=True)
def _draw_flavour(gen, mode):  # pragma: no cover - compiled
    """Return the flavour code ``mode`` (±1), or ±1 with probability ½ each for ``mode = 0``."""
    if mode != 0:
        return mode
    return 1 if gen.random() < 0.5 else -1


@njit(cache=True, nogil=True)
def _sample_chunk_narrow(
    gen, vgrid, ktab, btab, dens, cdf, guide, q2_lo, q2_hi, pa, pb, flavour_mode, flat,
    q2_out, ctl_out, ctk_out, chi_out, flav_out,
):  # pragma: no cover - compiled  # fmt: skip
    """Fill one chunk of narrow-K* events from a :class:`Q2Table` (tables as arrays).

    ``flat`` is the probability of flat angles per event (:mod:`hepc9.generate.density`).
    """
    j = np.empty(12)
    for i in range(q2_out.shape[0]):
        k, s, v = _draw_guided(gen, vgrid, dens, cdf, guide)
        for c in range(12):
            j[c] = (1.0 - s) * ktab[k, c] + s * ktab[k + 1, c]
        q2_out[i] = _map_q2(v, q2_lo, q2_hi, pa, pb)
        bound = (1.0 - s) * btab[k] + s * btab[k + 1]
        _draw_angles_or_flat(gen, j, bound, flat, i, ctl_out, ctk_out, chi_out)
        flav_out[i] = _draw_flavour(gen, flavour_mode)


@njit(cache=True, nogil=True)
def _sample_chunk_relbw(
    gen, ls_grid, ls_dens, ls_cdf, ls_guide, masses, vgrid, ktab, btab, dens, cdf, guides, totals,
    q2_min, m_b, win_lo, win_hi, flavour_mode, flat,
    q2_out, ctl_out, ctk_out, chi_out, mkpi_out, flav_out,
):  # pragma: no cover - compiled  # fmt: skip
    """Fill one chunk of Breit–Wigner events from a :class:`MassQ2Table` (tables as arrays).

    ``flat`` is the probability of flat angles per event (:mod:`hepc9.generate.density`).
    """
    n_nodes = masses.shape[0]
    dm_nodes = (masses[n_nodes - 1] - masses[0]) / (n_nodes - 1)
    j = np.empty(12)
    i = 0
    while i < q2_out.shape[0]:
        m = _draw_guided(gen, ls_grid, ls_dens, ls_cdf, ls_guide)[2]
        node = int((m - masses[0]) / dm_nodes)
        if node > n_nodes - 2:
            node = n_nodes - 2
        t = (m - masses[node]) / dm_nodes
        w0 = (1.0 - t) * totals[node]
        w1 = t * totals[node + 1]
        if gen.random() * (w0 + w1) >= w0:
            node += 1
        k, s, v = _draw_guided(gen, vgrid, dens[node], cdf[node], guides[node])
        q2 = _map_q2(v, q2_min, (m_b - m) * (m_b - m), _MAP_POWER, _MAP_POWER)
        if q2 < win_lo or q2 > win_hi:
            continue
        for c in range(12):
            j[c] = (1.0 - s) * ktab[node, k, c] + s * ktab[node, k + 1, c]
        q2_out[i] = q2
        mkpi_out[i] = m
        bound = (1.0 - s) * btab[node, k] + s * btab[node, k + 1]
        _draw_angles_or_flat(gen, j, bound, flat, i, ctl_out, ctk_out, chi_out)
        flav_out[i] = _draw_flavour(gen, flavour_mode)
        i += 1
