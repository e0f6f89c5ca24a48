"""−ln L event sums of the packed quadratic-form model: numba kernels and numpy twins.

For per-event packed forms C_e (:mod:`hepc9.fit.packed`), monomials m(θ), background density
G_e, background fraction f and normalisation Γ = 𝕄·m(θ), the event density is

    p_e = (1 − f) C_e·m / Γ + f G_e,

and :func:`nll_terms` returns the sums that give −ln L and its gradient, :func:`hessian_terms`
those of the analytic Hessian, each in one pass over the events.  Both have a plain numpy twin
(``*_numpy``, same arguments and returns) and a test that they agree;
:class:`~hepc9.fit.nll.UnbinnedNLL` assembles value, gradient and Hessian from them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "hessian_terms",
    "hessian_terms_numpy",
    "nll_terms",
    "nll_terms_numpy",
    "weighted_covariance",
    "weighted_covariance_numpy",
]

#: Floor of the event densities (keeps the logarithm finite).
_TINY = 1e-300


@njit(cache=True, nogil=True)
def _event_density(coeffs, e, mono, bkg_e, one_m_f, frac, gamma):  # pragma: no cover - compiled
    """Signal rate r = coeffs[e]·mono, signal density r/γ and mixture density of event ``e``.

    r and the mixture density are floored at ``_TINY`` (log-safe); ``one_m_f`` = 1 − frac.
    """
    r = 0.0
    for q in range(coeffs.shape[1]):
        r += coeffs[e, q] * mono[q]
    if r < _TINY:
        r = _TINY
    sig = r / gamma
    pe = one_m_f * sig + frac * bkg_e
    if pe < _TINY:
        pe = _TINY
    return r, sig, pe


def _densities(
    coefficients: np.ndarray, mono: np.ndarray, background: np.ndarray, fraction: float,
    gamma: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numpy twin of :func:`_event_density` for all events at once: (r, r/γ, mixture)."""
    r = np.maximum(coefficients @ mono, _TINY)
    sig = r / gamma
    pe = np.maximum((1.0 - fraction) * sig + fraction * background, _TINY)
    return r, sig, pe


@njit(cache=True, nogil=True)
def _nll_kernel(coeffs, mono, bkg, frac, gamma):  # pragma: no cover - compiled
    n, p = coeffs.shape
    s = 0.0
    u = np.zeros(p)
    v = 0.0
    wf = 0.0
    one_m_f = 1.0 - frac
    for e in range(n):
        _, sig, pe = _event_density(coeffs, e, mono, bkg[e], one_m_f, frac, gamma)
        s += math.log(pe)
        a = one_m_f / (gamma * pe)
        for q in range(p):
            u[q] += a * coeffs[e, q]
        v += a * sig
        wf += (bkg[e] - sig) / pe
    return s, u, v, wf


def nll_terms(
    coefficients: np.ndarray,
    mono: np.ndarray,
    background: np.ndarray,
    fraction: float,
    gamma: float,
) -> tuple[float, np.ndarray, float, float]:
    """Return the sums that give −ln L and its gradient (numba fast path).

    Parameters
    ----------
    coefficients : ndarray, shape (n, P), float64
        Packed per-event quadratic forms C_e.
    mono : ndarray, shape (P,)
        Monomials m(θ).
    background : ndarray, shape (n,)
        Background density G_e in the units of ``C_e·m / gamma`` (zeros without background).
    fraction : float
        Background fraction f.
    gamma : float
        Normalisation Γ(θ) = 𝕄·m(θ).

    Returns
    -------
    sum_log : float
        Σ_e ln p_e with p_e = (1−f) C_e·m/Γ + f G_e.
    u : ndarray, shape (P,)
        Σ_e (1−f) C_e / (Γ p_e).
    v : float
        Σ_e (1−f) (C_e·m/Γ) / (Γ p_e).
    w_f : float
        Σ_e (G_e − C_e·m/Γ) / p_e  (= −∂(−ln L)/∂f).
    """
    return _nll_kernel(coefficients, mono, background, float(fraction), float(gamma))


def nll_terms_numpy(
    coefficients: np.ndarray,
    mono: np.ndarray,
    background: np.ndarray,
    fraction: float,
    gamma: float,
) -> tuple[float, np.ndarray, float, float]:
    """Plain numpy twin of :func:`nll_terms` (same arguments and returns)."""
    _, sig, pe = _densities(coefficients, mono, background, fraction, gamma)
    a = (1.0 - fraction) / (gamma * pe)
    return (
        float(np.sum(np.log(pe))),
        a @ coefficients,
        float(np.sum(a * sig)),
        float(np.sum((background - sig) / pe)),
    )


@njit(cache=True, nogil=True)
def _hess_kernel(coeffs, mono, jac, nvec, bkg, frac, gamma):  # pragma: no cover - compiled
    n, p = coeffs.shape
    k = jac.shape[1]
    u = np.zeros(p)
    v = 0.0
    a_tt = np.zeros((k, k))
    c_tf = np.zeros(k)
    b_tf = np.zeros(k)
    d_ff = 0.0
    s_log = 0.0
    w_f = 0.0
    ds = np.empty(k)
    one_m_f = 1.0 - frac
    for e in range(n):
        r, sig, pe = _event_density(coeffs, e, mono, bkg[e], one_m_f, frac, gamma)
        g = 1.0 / pe
        s_log += math.log(pe)
        for q in range(p):
            u[q] += g * coeffs[e, q]
        v += g * r
        for a in range(k):
            ca = 0.0
            for q in range(p):
                ca += coeffs[e, q] * jac[q, a]
            ds[a] = (ca - sig * nvec[a]) / gamma * g
        dfp = (bkg[e] - sig) * g
        w_f += dfp
        for a in range(k):
            b_tf[a] += ds[a]
            c_tf[a] += ds[a] * dfp
            for b in range(k):
                a_tt[a, b] += ds[a] * ds[b]
        d_ff += dfp * dfp
    return u, v, a_tt, c_tf, b_tf, d_ff, s_log, w_f


def hessian_terms(
    coefficients: np.ndarray,
    mono: np.ndarray,
    jac: np.ndarray,
    nvec: np.ndarray,
    background: np.ndarray,
    fraction: float,
    gamma: float,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray, float, float, float]:
    """Return the event sums of the analytic Hessian (numba fast path).

    Parameters
    ----------
    coefficients : ndarray, shape (n, P)
    mono : ndarray, shape (P,)
        m(θ).
    jac : ndarray, shape (P, k)
        ∂m/∂θ.
    nvec : ndarray, shape (k,)
        𝕄·∂m/∂θ.
    background : ndarray, shape (n,)
    fraction, gamma : float

    Returns
    -------
    u : ndarray, shape (P,)
        Σ C_e / p_e.
    v : float
        Σ r_e / p_e.
    a_tt : ndarray, shape (k, k)
        Σ d_e d_eᵀ with d_e = ∂(r_e/Γ)/∂θ / p_e.
    c_tf : ndarray, shape (k,)
        Σ d_e (G_e − r_e/Γ) / p_e.
    b_tf : ndarray, shape (k,)
        Σ d_e.
    d_ff : float
        Σ ((G_e − r_e/Γ) / p_e)².
    sum_log : float
        Σ ln p_e.
    w_f : float
        Σ (G_e − r_e/Γ) / p_e.
    """
    return _hess_kernel(coefficients, mono, jac, nvec, background, float(fraction), float(gamma))


def hessian_terms_numpy(
    coefficients: np.ndarray,
    mono: np.ndarray,
    jac: np.ndarray,
    nvec: np.ndarray,
    background: np.ndarray,
    fraction: float,
    gamma: float,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray, float, float, float]:
    """Plain numpy twin of :func:`hessian_terms` (same arguments and returns)."""
    r, sig, pe = _densities(coefficients, mono, background, fraction, gamma)
    g = 1.0 / pe
    d = (coefficients @ jac - sig[:, None] * nvec) / gamma * g[:, None]
    dfp = (background - sig) * g
    return (
        g @ coefficients,
        float(g @ r),
        d.T @ d,
        d.T @ dfp,
        d.sum(axis=0),
        float(dfp @ dfp),
        float(np.sum(np.log(pe))),
        float(dfp.sum()),
    )


@njit(cache=True, nogil=True)
def _wcov_kernel(y, extra, w, use_extra):  # pragma: no cover - compiled
    n, p = y.shape
    m = p + 1 if use_extra else p
    mean = np.zeros(m)
    for i in range(n):
        for a in range(p):
            mean[a] += w[i] * y[i, a]
        if use_extra:
            mean[p] += w[i] * extra[i]
    cov = np.zeros((m, m))
    row = np.empty(m)
    for i in range(n):
        for a in range(p):
            row[a] = y[i, a] - mean[a]
        if use_extra:
            row[p] = extra[i] - mean[p]
        w2 = w[i] * w[i]
        for a in range(m):
            wa = w2 * row[a]
            for b in range(a, m):
                cov[a, b] += wa * row[b]
    for a in range(m):
        for b in range(a):
            cov[a, b] = cov[b, a]
    return mean, cov


def weighted_covariance(
    y: np.ndarray, w: np.ndarray, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ȳ = Σ w_i y_i and V = Σ w_i² (y_i − ȳ)(y_i − ȳ)ᵀ in two passes (numba).

    The covariance of the weighted sum Σ w_i r_i y_i under independent r_i with unit variance
    (the Poisson bootstrap of a weighted sample).  ``extra`` (n,) is appended as a last column
    without copying ``y``.

    Parameters
    ----------
    y : ndarray, shape (n, p)
    w : ndarray, shape (n,)
    extra : ndarray, shape (n,), optional

    Returns
    -------
    (ndarray (m,), ndarray (m, m))
        m = p, or p + 1 with ``extra``.
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    use = extra is not None
    e = np.ascontiguousarray(extra if use else np.zeros(1), dtype=np.float64)
    return _wcov_kernel(y, e, w, use)


def weighted_covariance_numpy(
    y: np.ndarray, w: np.ndarray, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`weighted_covariance`."""
    full = y if extra is None else np.concatenate((y, np.asarray(extra)[:, None]), axis=1)
    mean = w @ full
    d = (full - mean) * w[:, None]
    return mean, d.T @ d
