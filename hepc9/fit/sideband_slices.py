"""Sideband-slice extrapolation of the background template (mitigation of Mbc-dependent shapes).

The sideband method assumes the background's q² and angular shapes do not depend on Mbc.  When
they do (:mod:`hepc9.background.mbc_correlation`), a template fitted to the whole sideband
describes the background at the sideband's mean Mbc, not in the signal region.  This module
splits the sideband at its median Mbc into two slices, fits the template (same orders) to each,
and extrapolates the coefficients linearly in Mbc to the mean background Mbc of the signal
region,

    a_SR = a_hi + k (a_hi − a_lo),   k = (m_SR − m̄_hi)/(m̄_hi − m̄_lo),

with covariance (1 + k)² V_hi + k² V_lo (the slices are independent), so the template error
component (:mod:`hepc9.fit.uncertainty`) includes the price of the extrapolation.  m̄_lo, m̄_hi
are the slices' mean Mbc, m_SR the mean of the ARGUS shape over the signal region
(:func:`argus_mean`).  The shift of δC9 between the extrapolated and the plain template is
the residual systematic of the sideband assumption (reported by the benchmark).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepc9.background.shapes import argus_cdf
from hepc9.errors import DataError
from hepc9.fit.templates import BackgroundTemplate, fit_template

__all__ = ["argus_mean", "extrapolated_template"]


def argus_mean(lo: float, hi: float, *, c: float, m0: float, m_min: float) -> float:
    """Return the mean Mbc of the truncated ARGUS shape over [lo, min(hi, m0)] (GeV)."""
    hi = min(hi, m0)
    if not lo < hi:
        raise DataError(f"empty Mbc range [{lo}, {hi}] GeV")
    m = np.linspace(lo, hi, 4001)
    cdf = argus_cdf(m, c=c, m0=m0, m_min=m_min)
    frac = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    # E[m] = lo + ∫ (1 − F) dm over the range (trapezoid on a fine grid)
    tail = 1.0 - frac
    return float(lo + np.sum(0.5 * (tail[1:] + tail[:-1]) * np.diff(m)))


def extrapolated_template(
    sideband: Mapping[str, np.ndarray],
    *,
    mbc_target: float,
    orders: Sequence[int],
    **template_kwargs: Any,
) -> tuple[BackgroundTemplate, dict[str, Any]]:
    """Fit the template to two Mbc slices of the sideband and extrapolate it to ``mbc_target``.

    Parameters
    ----------
    sideband : mapping of str to ndarray
        Sideband events with an ``mbc`` column.
    mbc_target : float
        Mean background Mbc in the signal region, GeV (:func:`argus_mean`).
    orders : (int, int, int, int)
        Template orders (the same for both slices).
    **template_kwargs
        ``q2_range``, ``acceptance``, ``outside``, ``min_events``, ``constants`` of
        :func:`~hepc9.fit.templates.fit_template`.

    Returns
    -------
    BackgroundTemplate
        The extrapolated template (``n_events`` = both slices, ``log_likelihood`` NaN).
    dict
        ``slice_mbc`` (means), ``mbc_target``, ``k``, ``slice_events`` and ``slice_coefficients``.
    """
    if "mbc" not in sideband:
        raise DataError("the sideband sample has no mbc column; cannot split it into Mbc slices")
    mbc = np.asarray(sideband["mbc"], dtype=np.float64)
    cut = float(np.median(mbc))
    parts, means, fits = [], [], []
    for sel in (mbc <= cut, mbc > cut):
        part = {k: np.asarray(v)[sel] for k, v in sideband.items()}
        parts.append(part)
        means.append(float(mbc[sel].mean()))
        fits.append(fit_template(part, orders=orders, **template_kwargs))
    lo_fit, hi_fit = fits
    if not means[1] > means[0]:
        raise DataError("the two sideband slices have the same mean Mbc; cannot extrapolate")
    k = (float(mbc_target) - means[1]) / (means[1] - means[0])
    a_lo, a_hi = np.asarray(lo_fit.coefficients), np.asarray(hi_fit.coefficients)
    a = a_hi + k * (a_hi - a_lo)
    cov = (1.0 + k) ** 2 * np.asarray(hi_fit.covariance) + k**2 * np.asarray(lo_fit.covariance)
    base = hi_fit.with_coefficients(a)
    template = BackgroundTemplate(
        orders=base.orders,
        coefficients=base.coefficients,
        q2_range=base.q2_range,
        acceptance_corrected=base.acceptance_corrected,
        log_norm=base.log_norm,
        n_events=lo_fit.n_events + hi_fit.n_events,
        covariance=tuple(tuple(float(x) for x in r) for r in cov),
    )
    info = {
        "slice_mbc": means,
        "mbc_target": float(mbc_target),
        "k": float(k),
        "slice_events": [lo_fit.n_events, hi_fit.n_events],
        "slice_coefficients": [list(lo_fit.coefficients), list(hi_fit.coefficients)],
    }
    return template, info
