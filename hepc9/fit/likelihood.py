"""Unbinned 4D maximum-likelihood fit of Wilson-coefficient shifts (physics.md §6).

The rate at a phase-space point x = (q², cosθℓ, cosθK, χ) is an exact quadratic form in the
real shifts θ = (θ1..θk) chosen as free parameters (:mod:`hepc9.physics.quadratic`)::

    rate(x; θ) = θ̃ᵀ M(x) θ̃,   θ̃ = (1, θ1, …, θk),   Γ(θ) = θ̃ᵀ 𝕄 θ̃,   𝕄 = ∫ ε M dx

The symmetric matrices are stored *packed*: the K(K+1)/2 upper-triangle entries (row major,
K = k+1), so that ``rate = C · m(θ)`` with the monomial vector ``m_(ij) = θ̃_i θ̃_j`` (times 2
for i < j).  Each event costs K(K+1)/2 multiply-adds and one logarithm per likelihood call.

Likelihood (background fraction f, background density G relative to the acceptance)::

    −ln L(θ, f) = −Σ_e ln[ (1 − f) C_e·m(θ) / 𝕄·m(θ) + f G_e ]   (+ (f − f0)²/2σ_f² if constrained)

With f = 0 this is −Σ ln C_e·m + N ln 𝕄·m, the shape-only likelihood of physics.md §6.2.

Normalisation 𝕄:

* no acceptance: the exact q²-window integral of the model (:func:`model_normalisation`);
* with acceptance: a Monte Carlo integral over a reconstructed simulation sample
  (:class:`~hepc9.fit.acceptance.AcceptanceSample`, built by :func:`acceptance_sample`).

Minimisation uses a custom FCN with analytic gradient and Hessian (one numba pass over the
events returns all three) handed to :class:`iminuit.Minuit` with ``errordef = 0.5``: damped
Newton steps bring the start to the minimum, then MIGRAD, HESSE, optionally MINOS, and
likelihood scans/profiles (:meth:`LikelihoodFit.scan`).  The fast per-event forms come from
the spline table of :mod:`hepc9.fit.precompute` (``exact=True`` evaluates the physics instead).

Per-event weights are not used (a warning says so); events outside the q² window raise
:class:`~hepc9.errors.DataError` or are dropped with a :class:`~hepc9.errors.DroppedRowsWarning`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numba import njit

from hepc9.errors import (
    DataError,
    DroppedRowsWarning,
    FitNotConvergedWarning,
    Hepc9Warning,
    ShapeError,
    did_you_mean,
)
from hepc9.physics.constants import (
    SEED_MODEL,
    SHIFT_NAMES,
    ZERO_SHIFTS,
    ModelConstants,
    WilsonShifts,
    q2_limits,
)

__all__ = [
    "ANGLE_COLUMNS",
    "BACKGROUND_FRACTION",
    "FitResult",
    "LikelihoodFit",
    "ScanResult",
    "UnbinnedNLL",
    "check_free",
    "event_coefficients",
    "fit_events",
    "hessian_terms",
    "hessian_terms_numpy",
    "model_normalisation",
    "monomial_jacobian",
    "monomials",
    "n_packed",
    "nll_terms",
    "nll_terms_numpy",
    "pack_matrices",
    "resolve_q2_range",
    "select_window",
    "unpack",
]

log = logging.getLogger(__name__)

#: Name of the background-fraction nuisance parameter.
BACKGROUND_FRACTION = "f_bkg"
#: Event columns the fit reads (native names, formats.md §1).
ANGLE_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi")
_TWO_PI = 2.0 * math.pi
_TINY = 1e-300


# --------------------------------------------------------------------------------------------
# packed quadratic forms
# --------------------------------------------------------------------------------------------


def n_packed(k: int) -> int:
    """Return the number of packed coefficients K(K+1)/2 for ``k`` free parameters (K = k+1)."""
    kk = int(k) + 1
    return kk * (kk + 1) // 2


@functools.lru_cache(maxsize=16)
def _triu(k: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(int(k) + 1)
    i.setflags(write=False)
    j.setflags(write=False)
    return i, j


def pack_matrices(matrices: np.ndarray) -> np.ndarray:
    """Pack symmetric matrices into their upper triangles.

    Parameters
    ----------
    matrices : ndarray, shape (..., K, K)
        Symmetric matrices (float64).

    Returns
    -------
    ndarray, shape (..., K(K+1)/2), float64
        Entries M_ij, i ≤ j, row major.
    """
    m = np.asarray(matrices, dtype=np.float64)
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise ShapeError(f"expected (..., K, K) symmetric matrices, got shape {m.shape}")
    iu = np.triu_indices(m.shape[-1])
    return np.ascontiguousarray(m[..., iu[0], iu[1]])


def unpack(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_matrices`.

    Parameters
    ----------
    packed : ndarray, shape (..., P)
        Packed upper triangles, P = K(K+1)/2.

    Returns
    -------
    ndarray, shape (..., K, K), float64
    """
    c = np.asarray(packed, dtype=np.float64)
    p = c.shape[-1]
    kk = round((math.sqrt(8 * p + 1) - 1) / 2)
    if kk * (kk + 1) // 2 != p:
        raise ShapeError(f"{p} is not a triangular number of packed coefficients")
    iu = np.triu_indices(kk)
    out = np.zeros((*c.shape[:-1], kk, kk))
    out[..., iu[0], iu[1]] = c
    out[..., iu[1], iu[0]] = c
    return out


def monomials(theta: np.ndarray) -> np.ndarray:
    """Return the monomial vector m(θ) with ``C · m(θ) = θ̃ᵀ M θ̃``.

    Parameters
    ----------
    theta : ndarray, shape (k,)
        Free parameters (shifts relative to the expansion point).

    Returns
    -------
    ndarray, shape (K(K+1)/2,), float64
        θ̃_i θ̃_j, doubled for i < j.
    """
    t = np.concatenate(([1.0], np.asarray(theta, dtype=np.float64).ravel()))
    i, j = _triu(t.size - 1)
    return t[i] * t[j] * np.where(i == j, 1.0, 2.0)


def monomial_jacobian(theta: np.ndarray) -> np.ndarray:
    """Return ∂m/∂θ.

    Parameters
    ----------
    theta : ndarray, shape (k,)

    Returns
    -------
    ndarray, shape (K(K+1)/2, k), float64
    """
    t = np.concatenate(([1.0], np.asarray(theta, dtype=np.float64).ravel()))
    k = t.size - 1
    i, j = _triu(k)
    s = np.where(i == j, 1.0, 2.0)
    jac = np.zeros((i.size, k))
    for a in range(1, k + 1):
        jac[:, a - 1] = s * ((i == a) * t[j] + (j == a) * t[i])
    return jac


@functools.lru_cache(maxsize=16)
def _monomial_second(k: int) -> np.ndarray:
    """Return ∂²m/∂θ_a∂θ_b, shape (K(K+1)/2, k, k) (constant in θ)."""
    i, j = _triu(k)
    s = np.where(i == j, 1.0, 2.0)
    out = np.zeros((i.size, k, k))
    for a in range(1, k + 1):
        for b in range(1, k + 1):
            out[:, a - 1, b - 1] = s * (((i == a) & (j == b)) + 0.0 + ((i == b) & (j == a)))
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# NLL kernel (numba) and its numpy twin
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _nll_kernel(coeffs, mono, bkg, frac, gamma):  # pragma: no cover - compiled
    n, p = coeffs.shape
    s = 0.0
    u = np.zeros(p)
    v = 0.0
    wf = 0.0
    one_m_f = 1.0 - frac
    for e in range(n):
        r = 0.0
        for q in range(p):
            r += coeffs[e, q] * mono[q]
        if r < _TINY:
            r = _TINY
        sig = r / gamma
        pe = one_m_f * sig + frac * bkg[e]
        if pe < _TINY:
            pe = _TINY
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
    r = np.maximum(coefficients @ mono, _TINY)
    sig = r / gamma
    pe = np.maximum((1.0 - fraction) * sig + fraction * background, _TINY)
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
        r = 0.0
        for q in range(p):
            r += coeffs[e, q] * mono[q]
        if r < _TINY:
            r = _TINY
        sig = r / gamma
        pe = one_m_f * sig + frac * bkg[e]
        if pe < _TINY:
            pe = _TINY
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
    r = np.maximum(coefficients @ mono, _TINY)
    sig = r / gamma
    pe = np.maximum((1.0 - fraction) * sig + fraction * background, _TINY)
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


class UnbinnedNLL:
    """−ln L of the packed quadratic-form model, with analytic gradient.

    Parameters
    ----------
    coefficients : ndarray, shape (n, P)
        Packed per-event quadratic forms.
    normalisation : ndarray, shape (P,)
        Packed normalisation 𝕄.
    names : sequence of str
        Names of the k free shifts (in the order of the quadratic form).
    background : ndarray, shape (n,), optional
        Background density G_e relative to the normalisation (see module docstring).
    fraction : float
        Background fraction used when it is not a free parameter.
    fit_fraction : bool
        Make f a free parameter (the last one, named ``f_bkg``).
    fraction_constraint : (float, float), optional
        Gaussian constraint (mean, sigma) on f.
    use_numba : bool
        Use the numba kernel (True) or the numpy twin.

    Notes
    -----
    Called with the parameter vector (θ1..θk[, f]); ``errordef = 0.5``.  The last value and
    gradient are cached, so MIGRAD's paired value/gradient calls cost one pass.
    """

    errordef = 0.5

    def __init__(
        self,
        coefficients: np.ndarray,
        normalisation: np.ndarray,
        *,
        names: Sequence[str],
        background: np.ndarray | None = None,
        fraction: float = 0.0,
        fit_fraction: bool = False,
        fraction_constraint: tuple[float, float] | None = None,
        use_numba: bool = True,
    ) -> None:
        c = np.ascontiguousarray(coefficients, dtype=np.float64)
        k = len(names)
        p = n_packed(k)
        if c.ndim != 2 or c.shape[1] != p:
            raise ShapeError(
                f"coefficients must have shape (n, {p}) for {k} parameters, got {c.shape}"
            )
        norm = np.asarray(normalisation, dtype=np.float64).ravel()
        if norm.shape != (p,):
            raise ShapeError(f"normalisation must have shape ({p},), got {norm.shape}")
        self.coefficients = c
        self.normalisation = norm
        self.shift_names = tuple(names)
        self.k = k
        self.n_events = c.shape[0]
        if background is None:
            if fit_fraction or fraction != 0.0:
                raise DataError("a background fraction needs a background density per event")
            self.background = np.zeros(self.n_events)
        else:
            b = np.ascontiguousarray(background, dtype=np.float64).ravel()
            if b.shape != (self.n_events,):
                raise ShapeError(f"background must have shape ({self.n_events},), got {b.shape}")
            self.background = b
        self.fraction = float(fraction)
        self.fit_fraction = bool(fit_fraction)
        self.fraction_constraint = fraction_constraint
        self._terms = nll_terms if use_numba else nll_terms_numpy
        self._hess_terms = hessian_terms if use_numba else hessian_terms_numpy
        self._cache_x: np.ndarray | None = None
        self._cache: tuple[float, np.ndarray] = (0.0, np.zeros(0))
        self._full_x: np.ndarray | None = None
        self._full: tuple[float, np.ndarray, np.ndarray] = (0.0, np.zeros(0), np.zeros((0, 0)))

    @property
    def names(self) -> tuple[str, ...]:
        """Names of all parameters of the FCN (shifts, then ``f_bkg`` when free)."""
        return (*self.shift_names, BACKGROUND_FRACTION) if self.fit_fraction else self.shift_names

    def _split(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        if self.fit_fraction:
            return x[: self.k], float(x[self.k])
        return x, self.fraction

    def value_and_grad(self, x: Sequence[float] | np.ndarray) -> tuple[float, np.ndarray]:
        """Return −ln L and its gradient at ``x``.

        Parameters
        ----------
        x : array_like, shape (k,) or (k+1,)
            Shifts (and f when it is free).

        Returns
        -------
        (float, ndarray)
        """
        xa = np.array(x, dtype=np.float64)
        if self._cache_x is not None and np.array_equal(xa, self._cache_x):
            return self._cache
        theta, f = self._split(xa)
        mono = monomials(theta)
        jac = monomial_jacobian(theta)
        gamma = float(self.normalisation @ mono)
        if not gamma > 0.0:
            value = math.inf
            grad = np.zeros(xa.size)
        else:
            s, u, v, wf = self._terms(self.coefficients, mono, self.background, f, gamma)
            value = -s
            grad_theta = -(u @ jac) + v * (self.normalisation @ jac)
            grad = np.concatenate((grad_theta, [-wf])) if self.fit_fraction else grad_theta
            if self.fraction_constraint is not None:
                mean, sigma = self.fraction_constraint
                value += 0.5 * ((f - mean) / sigma) ** 2
                if self.fit_fraction:
                    grad[-1] += (f - mean) / sigma**2
        self._cache_x = xa
        self._cache = (float(value), grad)
        return self._cache

    def value_grad_hessian(
        self, x: Sequence[float] | np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Return −ln L, its gradient and its analytic Hessian at ``x`` in one pass.

        Parameters
        ----------
        x : array_like, shape (k,) or (k+1,)

        Returns
        -------
        (float, ndarray (m,), ndarray (m, m))
        """
        xa = np.array(x, dtype=np.float64)
        if self._full_x is not None and np.array_equal(xa, self._full_x):
            return self._full
        theta, f = self._split(xa)
        k = self.k
        mono = monomials(theta)
        jac = np.ascontiguousarray(monomial_jacobian(theta))
        norm = self.normalisation
        gamma = float(norm @ mono)
        if not gamma > 0.0:
            m = xa.size
            return math.inf, np.zeros(m), np.full((m, m), np.nan)
        nvec = norm @ jac
        u, v, a_tt, c_tf, b_tf, d_ff, s_log, w_f = self._hess_terms(
            self.coefficients, mono, jac, nvec, self.background, f, gamma
        )
        uj = u @ jac
        value = -s_log
        grad_t = (1.0 - f) * (-uj / gamma + v * nvec / gamma**2)
        second = _monomial_second(k)
        u_ab = np.einsum("p,pab->ab", u, second)
        n_ab = np.einsum("p,pab->ab", norm, second)
        d2 = (
            u_ab / gamma
            - (np.outer(uj, nvec) + np.outer(nvec, uj)) / gamma**2
            - v * n_ab / gamma**2
            + 2.0 * v * np.outer(nvec, nvec) / gamma**3
        )
        h_tt = -(1.0 - f) * d2 + (1.0 - f) ** 2 * a_tt
        if not self.fit_fraction:
            grad, hess = grad_t, h_tt
        else:
            grad = np.concatenate((grad_t, [-w_f]))
            hess = np.empty((k + 1, k + 1))
            hess[:k, :k] = h_tt
            h_tf = b_tf + (1.0 - f) * c_tf
            hess[:k, k] = h_tf
            hess[k, :k] = h_tf
            hess[k, k] = d_ff
        if self.fraction_constraint is not None:
            mean, sigma = self.fraction_constraint
            value += 0.5 * ((f - mean) / sigma) ** 2
            if self.fit_fraction:
                grad[-1] += (f - mean) / sigma**2
                hess[k, k] += 1.0 / sigma**2
        self._full_x = xa
        self._full = (float(value), grad, hess)
        self._cache_x = xa
        self._cache = (float(value), grad)
        return self._full

    def hessian_matrix(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """Return the analytic Hessian of −ln L at ``x``, shape (m, m)."""
        return self.value_grad_hessian(x)[2].copy()

    def __call__(self, x: Sequence[float] | np.ndarray) -> float:
        """Return −ln L at ``x``."""
        return self.value_and_grad(x)[0]

    def grad(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """Return the gradient of −ln L at ``x``."""
        return self.value_and_grad(x)[1].copy()


# --------------------------------------------------------------------------------------------
# inputs: columns, window, coefficients, normalisation
# --------------------------------------------------------------------------------------------


def check_free(free: Sequence[str] | str) -> tuple[str, ...]:
    """Validate the names of free shifts.

    Parameters
    ----------
    free : sequence of str or str
        Names from ``SHIFT_NAMES`` (a comma-separated string is accepted).

    Returns
    -------
    tuple of str
        The names in the canonical order of ``SHIFT_NAMES``.
    """
    names = [s.strip() for s in free.split(",")] if isinstance(free, str) else list(free)
    names = [n for n in names if n]
    if not names:
        raise DataError(f"no free parameter given; choose from {', '.join(SHIFT_NAMES)}")
    for n in names:
        if n not in SHIFT_NAMES:
            hint = did_you_mean(n, SHIFT_NAMES)
            raise DataError(f"unknown free parameter '{n}'{hint} (valid: {', '.join(SHIFT_NAMES)})")
    if len(set(names)) != len(names):
        raise DataError(f"free parameters {names} contain duplicates")
    return tuple(n for n in SHIFT_NAMES if n in names)


def resolve_q2_range(
    q2_range: Sequence[float] | None, constants: ModelConstants = SEED_MODEL
) -> tuple[float, float]:
    """Return the q² window, checked against the kinematic limits (physics.md §1.2).

    Parameters
    ----------
    q2_range : (float, float) or None
        Window in GeV²; ``None`` means the full kinematic range (narrow K*).
    constants : ModelConstants

    Returns
    -------
    (float, float)
    """
    lo_k, hi_k = q2_limits(constants)
    lo_k, hi_k = float(lo_k), float(hi_k)
    if q2_range is None:
        return lo_k, hi_k
    if len(q2_range) != 2:
        raise DataError(f"q2_range must be (low, high) in GeV², got {q2_range!r}")
    lo, hi = float(q2_range[0]), float(q2_range[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise DataError(f"q2_range ({lo}, {hi}) must be finite with low < high")
    eps = 1e-9
    if lo < lo_k - eps or hi > hi_k + eps:
        raise DataError(
            f"q2_range ({lo}, {hi}) GeV² leaves the kinematic range [{lo_k:.6g}, {hi_k:.6g}]; "
            "choose a window inside it"
        )
    return max(lo, lo_k), min(hi, hi_k)


def select_window(
    events: Mapping[str, np.ndarray],
    q2_range: tuple[float, float],
    *,
    outside: Literal["raise", "drop"] = "raise",
    what: str = "events",
    extra_columns: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], int]:
    """Check the fit columns and keep the events inside the q² window.

    Parameters
    ----------
    events : mapping of str to ndarray
        Native event columns (needs ``q2 costheta_l costheta_k chi``).
    q2_range : (float, float)
        Window in GeV².
    outside : {"raise", "drop"}
        Events outside the window raise :class:`DataError`, or are dropped with one
        :class:`DroppedRowsWarning`.
    what : str
        Name of the sample for messages.
    extra_columns : sequence of str
        Further columns to carry along (and check for finiteness).

    Returns
    -------
    events : dict of str to ndarray (float64)
        The selected columns.
    n_dropped : int
    """
    if outside not in ("raise", "drop"):
        raise DataError(f"outside = {outside!r} must be 'raise' or 'drop'")
    cols = (*ANGLE_COLUMNS, *extra_columns)
    missing = [c for c in cols if c not in events]
    if missing:
        raise DataError(
            f"{what} lack the column(s) {', '.join(missing)}; the fit needs {', '.join(cols)}"
        )
    out = {c: np.asarray(events[c], dtype=np.float64).ravel() for c in cols}
    n = out["q2"].size
    if any(v.size != n for v in out.values()):
        raise ShapeError(f"{what}: columns {', '.join(cols)} have different lengths")
    if n == 0:
        raise DataError(f"{what} are empty: nothing to fit")
    for c, v in out.items():
        bad = ~np.isfinite(v)
        if bad.any():
            raise DataError(
                f"{what}: column {c} has {int(bad.sum())} non-finite value(s), first at entry "
                f"{int(np.argmax(bad))}; drop them when reading the file"
            )
    for c in ("costheta_l", "costheta_k"):
        v = out[c]
        if np.any(np.abs(v) > 1.0 + 1e-9):
            raise DataError(
                f"{what}: {c} has values outside [-1, 1] (max |{c}| = {np.abs(v).max():.6g})"
            )
    chi = out["chi"]
    if np.any(chi < -1e-9) or np.any(chi > _TWO_PI + 1e-9):
        raise DataError(
            f"{what}: chi must lie in [0, 2π) rad (formats.md §2), found range "
            f"[{chi.min():.6g}, {chi.max():.6g}]"
        )
    lo, hi = q2_range
    keep = (out["q2"] >= lo) & (out["q2"] <= hi)
    n_out = int(n - keep.sum())
    if n_out:
        if outside == "raise":
            raise DataError(
                f"{n_out} of {n} {what} have q² outside the fit window [{lo:.6g}, {hi:.6g}] GeV²; "
                "select them first, change --q2-range, or drop them (outside='drop')"
            )
        warnings.warn(
            f"dropped {n_out} of {n} {what} with q² outside [{lo:.6g}, {hi:.6g}] GeV²",
            DroppedRowsWarning,
            stacklevel=2,
        )
        out = {c: v[keep] for c, v in out.items()}
    return out, n_out


def event_coefficients(
    events: Mapping[str, np.ndarray],
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    use_mkpi: bool = False,
    q2_range: Sequence[float] | None = None,
    exact: bool = False,
) -> np.ndarray:
    """Return the packed quadratic form of the rate for every event.

    Parameters
    ----------
    events : mapping of str to ndarray
        ``q2 costheta_l costheta_k chi`` (and ``mkpi`` with ``use_mkpi``), shape (n,).
    params : sequence of str
        Free shifts θ (expansion around ``at``).
    at : WilsonShifts
        Expansion point (values of the fixed shifts; free ones are usually 0).
    constants : ModelConstants
    use_mkpi : bool
        Evaluate kinematics and form factors at the event's m(Kπ) instead of m_K* (always
        the exact path).
    q2_range : (float, float), optional
        Window of the events (default full range); sets the q² table of the fast path.
    exact : bool
        Evaluate the physics (:func:`hepc9.physics.quadratic.quadratic_coefficients`) at every
        event instead of the spline table of :mod:`hepc9.fit.precompute` (whose interpolation
        error is below 1e-6 of the local rate, tested).

    Returns
    -------
    ndarray, shape (n, K(K+1)/2), float64
        Upper triangles of M(x_e) with rate(x_e; at + θ) = θ̃ᵀ M θ̃ (GeV⁻¹ per unit of the 4D
        phase space, physics.rate units).
    """
    if exact or use_mkpi:
        from hepc9.physics.quadratic import quadratic_coefficients

        mkpi = np.asarray(events["mkpi"], dtype=np.float64) if use_mkpi else None
        m = quadratic_coefficients(
            np.asarray(events["q2"], dtype=np.float64),
            np.asarray(events["costheta_l"], dtype=np.float64),
            np.asarray(events["costheta_k"], dtype=np.float64),
            np.asarray(events["chi"], dtype=np.float64),
            params=tuple(params),
            at=at,
            constants=constants,
            mkpi=mkpi,
        )
        return pack_matrices(m)
    from hepc9.fit.precompute import coefficient_table, table_coefficients

    window = resolve_q2_range(q2_range, constants)
    q2 = np.asarray(events["q2"], dtype=np.float64)
    if q2.size and (q2.min() < window[0] or q2.max() > window[1]):
        raise DataError(
            f"events with q² in [{q2.min():.6g}, {q2.max():.6g}] GeV² lie outside the window "
            f"[{window[0]:.6g}, {window[1]:.6g}] of the coefficient table; pass q2_range"
        )
    table = coefficient_table(tuple(params), at, constants, window)
    return table_coefficients(events, table)


def model_normalisation(
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Return the packed normalisation 𝕄 = ∫ M dx over the q² window (no acceptance).

    Parameters
    ----------
    params, at, constants
        As in :func:`event_coefficients`.
    q2_range : (float, float), optional
        Window in GeV²; ``None`` is the full range.

    Returns
    -------
    ndarray, shape (K(K+1)/2,), float64
    """
    from hepc9.physics.quadratic import normalisation_matrix

    return pack_matrices(
        normalisation_matrix(params=tuple(params), at=at, constants=constants, q2_range=q2_range)
    )


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


@dataclass(frozen=True)
class FitResult:
    """Result of one unbinned fit.

    Attributes
    ----------
    values, errors : dict of str to float
        Best-fit values and HESSE errors of the free parameters (shifts and ``f_bkg``).
    minos : dict of str to (float, float) or None
        MINOS (lower, upper) errors (lower ≤ 0 ≤ upper) when requested.
    minos_valid : dict of str to bool or None
    covariance, correlation : tuple of tuple of float
        HESSE covariance and correlation matrices, ordered as ``parameters``.
    valid : bool
        MIGRAD converged (valid minimum, accurate covariance) and, when run, MINOS is valid.
    nll : float
        −ln L at the minimum.
    n_events : int
        Events in the fit (after dropping).
    q2_range : (float, float)
        Fit window in GeV².
    free : tuple of str
        Free shifts.
    fixed : dict of str to float
        Values of all other shifts (and ``f_bkg`` when fixed).
    parameters : tuple of str
        All fit parameters in covariance order.
    edm : float
    nfcn : int
    n_dropped : int
    normalisation : str
        ``"model"`` (exact q² integral) or ``"acceptance"`` (simulation sample).
    message : str
        Empty for a good fit, otherwise what went wrong.
    """

    values: dict[str, float]
    errors: dict[str, float]
    minos: dict[str, tuple[float, float]] | None
    minos_valid: dict[str, bool] | None
    covariance: tuple[tuple[float, ...], ...]
    correlation: tuple[tuple[float, ...], ...]
    valid: bool
    nll: float
    n_events: int
    q2_range: tuple[float, float]
    free: tuple[str, ...]
    fixed: dict[str, float]
    parameters: tuple[str, ...] = ()
    edm: float = math.nan
    nfcn: int = 0
    n_dropped: int = 0
    normalisation: str = "model"
    message: str = ""
    scan: dict[str, Any] | None = None

    def interval(self, name: str) -> tuple[float, float]:
        """Return the MINOS interval (absolute lower, upper bound) of ``name``."""
        if self.minos is None or name not in self.minos:
            raise DataError(f"no MINOS interval for '{name}'; rerun the fit with minos=True")
        lo, hi = self.minos[name]
        return self.values[name] + lo, self.values[name] + hi

    def shifts(self) -> WilsonShifts:
        """Return the fitted point as :class:`WilsonShifts` (fixed shifts included)."""
        d = {k: v for k, v in self.fixed.items() if k in SHIFT_NAMES}
        d.update({k: v for k, v in self.values.items() if k in SHIFT_NAMES})
        return WilsonShifts(**d)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data (tuples become lists)."""
        return {
            "values": _plain(self.values),
            "errors": _plain(self.errors),
            "minos": None if self.minos is None else {k: list(v) for k, v in self.minos.items()},
            "minos_valid": self.minos_valid,
            "covariance": _plain(self.covariance),
            "correlation": _plain(self.correlation),
            "valid": bool(self.valid),
            "nll": float(self.nll),
            "n_events": int(self.n_events),
            "q2_range": list(self.q2_range),
            "free": list(self.free),
            "fixed": _plain(self.fixed),
            "parameters": list(self.parameters),
            "edm": float(self.edm),
            "nfcn": int(self.nfcn),
            "n_dropped": int(self.n_dropped),
            "normalisation": self.normalisation,
            "message": self.message,
            "scan": self.scan,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitResult:
        """Rebuild a result from :meth:`to_dict` output."""
        try:
            minos = data.get("minos")
            return cls(
                values={k: float(v) for k, v in data["values"].items()},
                errors={k: float(v) for k, v in data["errors"].items()},
                minos=None
                if minos is None
                else {k: (float(v[0]), float(v[1])) for k, v in minos.items()},
                minos_valid=None
                if data.get("minos_valid") is None
                else {k: bool(v) for k, v in data["minos_valid"].items()},
                covariance=tuple(tuple(float(x) for x in row) for row in data["covariance"]),
                correlation=tuple(tuple(float(x) for x in row) for row in data["correlation"]),
                valid=bool(data["valid"]),
                nll=float(data["nll"]),
                n_events=int(data["n_events"]),
                q2_range=(float(data["q2_range"][0]), float(data["q2_range"][1])),
                free=tuple(data["free"]),
                fixed={k: float(v) for k, v in data["fixed"].items()},
                parameters=tuple(data.get("parameters", data["free"])),
                edm=float(data.get("edm", math.nan)),
                nfcn=int(data.get("nfcn", 0)),
                n_dropped=int(data.get("n_dropped", 0)),
                normalisation=str(data.get("normalisation", "model")),
                message=str(data.get("message", "")),
                scan=data.get("scan"),
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise DataError(f"not a fit result: {err}") from err

    def table(self) -> str:
        """Return a plain-text result table."""
        lines = [
            f"unbinned 4D fit: {self.n_events} events, q² in [{self.q2_range[0]:.4g}, "
            f"{self.q2_range[1]:.4g}] GeV², normalisation {self.normalisation}",
            f"{'parameter':<10} {'value':>10} {'HESSE':>9} {'MINOS −':>9} {'MINOS +':>9}",
        ]
        for name in self.parameters:
            lo, hi = ("", "")
            if self.minos is not None and name in self.minos:
                lo, hi = (f"{self.minos[name][0]:+.4f}", f"{self.minos[name][1]:+.4f}")
            lines.append(
                f"{name:<10} {self.values[name]:>+10.4f} {self.errors[name]:>9.4f} {lo:>9} {hi:>9}"
            )
        if len(self.parameters) > 1:
            lines.append("correlations:")
            for name, row in zip(self.parameters, self.correlation, strict=True):
                lines.append(f"  {name:<8} " + " ".join(f"{x:+.3f}" for x in row))
        fixed = ", ".join(f"{k}={v:g}" for k, v in self.fixed.items() if v != 0.0)
        lines.append(f"fixed: {fixed or 'all other shifts 0'}")
        status = "valid" if self.valid else f"INVALID ({self.message})"
        lines.append(f"−ln L = {self.nll:.3f}, EDM = {self.edm:.2e}, calls = {self.nfcn}: {status}")
        if self.scan is not None:
            kind = "profile" if self.scan["profile"] else "scan"
            lines.append(f"likelihood {kind} of {self.scan['parameter']} (ΔNLL):")
            for v, d in zip(self.scan["values"], self.scan["delta_nll"], strict=True):
                lines.append(f"  {v:+10.4f}  {d:10.4f}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ScanResult:
    """A likelihood scan of one parameter.

    Attributes
    ----------
    parameter : str
    values : ndarray, shape (m,)
        Scanned values.
    delta_nll : ndarray, shape (m,)
        −ln L(value) − −ln L(best fit); profiled over the other parameters when ``profile``.
    profile : bool
    valid : ndarray of bool, shape (m,)
        Whether each profiled minimisation converged (all True for plain scans).
    """

    parameter: str
    values: np.ndarray
    delta_nll: np.ndarray
    profile: bool
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data."""
        return {
            "parameter": self.parameter,
            "values": self.values.tolist(),
            "delta_nll": self.delta_nll.tolist(),
            "profile": self.profile,
            "valid": self.valid.tolist(),
        }


# --------------------------------------------------------------------------------------------
# the fit
# --------------------------------------------------------------------------------------------


class LikelihoodFit:
    """An unbinned fit ready to minimise: events reduced to packed quadratic forms.

    Build it with :meth:`from_events` (checks and precomputes) or :meth:`from_coefficients`
    (already packed coefficients, e.g. inside toy loops).

    Parameters
    ----------
    coefficients : ndarray, shape (n, P)
        Packed per-event forms for the shifts ``free`` around ``at``.
    normalisation : ndarray, shape (P,)
        Packed 𝕄 in the same units as the coefficients.
    free : sequence of str
        Free shifts.
    at : WilsonShifts
        Expansion point; its entries for free shifts must be 0 (the fit values are the shifts).
    q2_range : (float, float)
    background : ndarray, shape (n,), optional
        Background density per event, relative to the normalisation (see module docstring).
    background_fraction : float, optional
        Start value (free f) or fixed value of f; default 0 without background.
    fraction_error : float, optional
        σ of a Gaussian constraint on f around ``background_fraction``.
    fix_fraction : bool
        Keep f fixed at ``background_fraction``.
    n_dropped : int
    normalisation_kind : str
    min_events : int
        Smallest accepted sample.
    use_numba : bool
    """

    def __init__(
        self,
        coefficients: np.ndarray,
        normalisation: np.ndarray,
        *,
        free: Sequence[str] = ("dc9",),
        at: WilsonShifts = ZERO_SHIFTS,
        q2_range: tuple[float, float],
        background: np.ndarray | None = None,
        background_fraction: float | None = None,
        fraction_error: float | None = None,
        fix_fraction: bool = False,
        n_dropped: int = 0,
        normalisation_kind: str = "model",
        min_events: int = 10,
        use_numba: bool = True,
    ) -> None:
        self.free = check_free(free)
        if any(getattr(at, n) != 0.0 for n in self.free):
            raise DataError(f"the expansion point must have zero free shifts {self.free}, got {at}")
        self.at = at
        self.q2_range = (float(q2_range[0]), float(q2_range[1]))
        n = int(np.asarray(coefficients).shape[0])
        if n < max(int(min_events), 1):
            raise DataError(
                f"only {n} events in the fit window; at least {min_events} are needed "
                f"(min_events) for a fit of {len(self.free)} parameter(s)"
            )
        fit_fraction = False
        frac = 0.0
        constraint = None
        if background is not None:
            frac = 0.1 if background_fraction is None else float(background_fraction)
            if not 0.0 <= frac < 1.0:
                raise DataError(f"background fraction {frac} must be in [0, 1)")
            fit_fraction = not fix_fraction
            if fraction_error is not None:
                if not (math.isfinite(fraction_error) and fraction_error > 0):
                    raise DataError(f"background fraction error {fraction_error} must be > 0")
                constraint = (frac, float(fraction_error))
        elif background_fraction not in (None, 0.0):
            raise DataError(
                f"background fraction {background_fraction} given without a background model; "
                "pass a sideband sample (--sideband) or a template"
            )
        self.nll = UnbinnedNLL(
            coefficients,
            normalisation,
            names=self.free,
            background=background,
            fraction=frac,
            fit_fraction=fit_fraction,
            fraction_constraint=constraint,
            use_numba=use_numba,
        )
        self.n_dropped = int(n_dropped)
        self.normalisation_kind = normalisation_kind
        self._minuit: Any = None
        self._result: FitResult | None = None

    @classmethod
    def from_events(
        cls,
        events: Mapping[str, np.ndarray],
        *,
        free: Sequence[str] | str = ("dc9",),
        fixed: Mapping[str, float] | WilsonShifts | None = None,
        q2_range: Sequence[float] | None = None,
        constants: ModelConstants = SEED_MODEL,
        acceptance: Any = None,
        background: Any = None,
        background_fraction: float | None = None,
        fraction_error: float | None = None,
        fix_fraction: bool = False,
        outside: Literal["raise", "drop"] = "raise",
        use_mkpi: bool = False,
        min_events: int = 10,
    ) -> LikelihoodFit:
        """Check the events, precompute their quadratic forms and the normalisation.

        Parameters
        ----------
        events : mapping of str to ndarray
            Native columns ``q2 costheta_l costheta_k chi`` (``mkpi`` with ``use_mkpi``).
        free : sequence of str or str
            Free shifts (default δC9 alone).
        fixed : mapping or WilsonShifts, optional
            Values of the other shifts (default 0); entries for free shifts are ignored.
        q2_range : (float, float), optional
            Fit window in GeV²; default the full kinematic range.
        constants : ModelConstants
        acceptance : AcceptanceSample, optional
            Simulation sample for the efficiency-corrected normalisation.
        background : BackgroundTemplate, optional
            Background template (fitted with the same acceptance, if any).
        background_fraction, fraction_error, fix_fraction
            Background fraction start/fixed value, Gaussian constraint σ, fixed flag.
        outside : {"raise", "drop"}
            What to do with events outside the q² window.
        use_mkpi : bool
            Use the per-event m(Kπ) in the model.
        min_events : int

        Returns
        -------
        LikelihoodFit
        """
        names = check_free(free)
        base = (
            fixed
            if isinstance(fixed, WilsonShifts)
            else WilsonShifts.from_mapping(dict(dict(fixed or {}).items()))
        )
        at = base.with_(**dict.fromkeys(names, 0.0))
        window = resolve_q2_range(q2_range, constants)
        extra = ("mkpi",) if use_mkpi else ()
        ev, n_drop = select_window(events, window, outside=outside, extra_columns=extra)
        if "weight" in events and np.any(np.asarray(events["weight"]) != 1.0):
            warnings.warn(
                "the events carry per-entry weights; the unbinned fit ignores them (every "
                "event counts once)",
                Hepc9Warning,
                stacklevel=2,
            )
        if ev["q2"].size < min_events:
            raise DataError(
                f"only {ev['q2'].size} events in the fit window [{window[0]:.4g}, {window[1]:.4g}]"
                f" GeV²; at least {min_events} are needed (min_events)"
            )
        coeffs = event_coefficients(
            ev, params=names, at=at, constants=constants, use_mkpi=use_mkpi, q2_range=window
        )
        if acceptance is not None:
            acceptance.check_window(window)
            norm = acceptance.normalisation(params=names, at=at, constants=constants)
            kind = "acceptance"
        else:
            norm = model_normalisation(params=names, at=at, constants=constants, q2_range=window)
            kind = "model"
        bkg = None
        if background is not None:
            bkg = background.density_for_fit(ev, acceptance=acceptance)
        return cls(
            coeffs,
            norm,
            free=names,
            at=at,
            q2_range=window,
            background=bkg,
            background_fraction=background_fraction,
            fraction_error=fraction_error,
            fix_fraction=fix_fraction,
            n_dropped=n_drop,
            normalisation_kind=kind,
            min_events=min_events,
        )

    @classmethod
    def from_coefficients(
        cls, coefficients: np.ndarray, normalisation: np.ndarray, **kwargs: Any
    ) -> LikelihoodFit:
        """Build a fit from packed coefficients (see the class parameters)."""
        return cls(coefficients, normalisation, **kwargs)

    # -- minimisation -----------------------------------------------------------------------

    def _start(self, start: Mapping[str, float] | None) -> list[float]:
        x0 = [0.0] * len(self.free)
        if start:
            for k, v in start.items():
                if k in self.free:
                    x0[self.free.index(k)] = float(v)
                elif k == BACKGROUND_FRACTION and self.nll.fit_fraction:
                    pass
                else:
                    raise DataError(f"start value for '{k}', which is not a free parameter")
        if self.nll.fit_fraction:
            f0 = self.nll.fraction
            if start and BACKGROUND_FRACTION in start:
                f0 = float(start[BACKGROUND_FRACTION])
            x0.append(f0)
        return x0

    def _g2(self, x: Any) -> np.ndarray:
        """Return the diagonal of the analytic Hessian of the NLL at ``x``."""
        return np.diag(self.nll.hessian_matrix(np.asarray(x, dtype=np.float64))).copy()

    def _newton(self, x0: list[float], max_iter: int = 30) -> list[float]:
        """Damped Newton steps with the analytic Hessian towards the minimum.

        Where the Hessian is not positive definite a diagonally scaled gradient step is used
        instead; only steps that lower −ln L are taken, so the result is never worse than the
        start, and MIGRAD then starts where the curvature is positive.
        """
        x = np.array(x0, dtype=np.float64)
        fval, grad, hess = self.nll.value_grad_hessian(x)
        if not math.isfinite(fval):
            return list(x0)
        for _ in range(max_iter):
            try:
                np.linalg.cholesky(hess)
                step = -np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                # negative curvature: a gradient step scaled by the Hessian diagonal
                diag = np.abs(np.diag(hess))
                step = -grad / np.where(np.isfinite(diag) & (diag > 0), diag, 1.0)
            else:
                if float(-grad @ step) < 1e-4:  # EDM-like distance: MIGRAD polishes the rest
                    break
            t = 1.0
            while t > 1e-3:
                xn = x + t * step
                if not (self.nll.fit_fraction and not 0.0 <= xn[-1] < 1.0):
                    fn, gn, hn = self.nll.value_grad_hessian(xn)
                    if math.isfinite(fn) and fn < fval:
                        break
                t *= 0.5
            else:
                break
            x, fval, grad, hess = xn, fn, gn, hn
        return x.tolist()

    def migrad(
        self,
        *,
        start: Mapping[str, float] | None = None,
        strategy: int = 1,
        max_calls: int | None = None,
        tolerance: float = 0.1,
    ) -> Any:
        """Run MIGRAD and HESSE; return the :class:`iminuit.Minuit` object.

        Newton steps with the analytic Hessian first bring the start close to the minimum
        (unless a call limit is set); MIGRAD then uses the analytic gradient and Hessian, and
        HESSE the analytic Hessian.  iminuit 2.33 fails inside Minuit2 ("'NoneType' object is
        not callable") when a seed with an analytic Hessian meets negative curvature or a call
        limit; in that case the fit is redone with only the Hessian diagonal as ``g2`` and a
        numerical HESSE.
        """
        from iminuit import Minuit

        x0 = self._start(start)
        if max_calls is None:
            x0 = self._newton(x0)

        def build(analytic: bool) -> Any:
            m = Minuit(
                self.nll,
                x0,
                grad=self.nll.grad,
                hessian=self.nll.hessian_matrix if analytic else False,
                g2=None if analytic else self._g2,
                name=self.nll.names,
            )
            m.strategy = int(strategy)
            m.tol = float(tolerance)
            m.print_level = 0
            for name in self.free:
                m.errors[name] = 0.1
            if self.nll.fit_fraction:
                m.limits[BACKGROUND_FRACTION] = (0.0, 1.0)
                m.errors[BACKGROUND_FRACTION] = 0.02
            return m

        m = build(analytic=max_calls is None)
        try:
            m.migrad(ncall=max_calls)
        except TypeError:
            log.debug("MIGRAD with the analytic Hessian failed in Minuit2; retrying with g2")
            m = build(analytic=False)
            m.migrad(ncall=max_calls)
        if m.valid:
            m.hesse()
        self._minuit = m
        return m

    def fit(
        self,
        *,
        start: Mapping[str, float] | None = None,
        minos: bool = False,
        strategy: int = 1,
        max_calls: int | None = None,
        tolerance: float = 0.1,
    ) -> FitResult:
        """Minimise −ln L: MIGRAD, HESSE and optionally MINOS.

        Parameters
        ----------
        start : mapping of str to float, optional
            Start values (default 0 for shifts, the given fraction for ``f_bkg``).  The
            shape-only likelihood tends to a constant as |θ| → ∞ (the density approaches the
            shape of the pure-θ amplitude), so it can have a far secondary minimum; start near
            the Standard Model (the default) or scan.
        minos : bool
            Also compute MINOS intervals for every free parameter.
        strategy : int
            Minuit strategy (0, 1, 2).
        max_calls : int, optional
            Call limit of MIGRAD (``None``: Minuit's default).
        tolerance : float
            Minuit EDM tolerance factor.

        Returns
        -------
        FitResult
            ``valid=False`` and a :class:`FitNotConvergedWarning` when MIGRAD, HESSE or MINOS
            failed; the numbers are then those of the last point reached.
        """
        m = self.migrad(start=start, strategy=strategy, max_calls=max_calls, tolerance=tolerance)
        problems: list[str] = []
        fmin = m.fmin
        if not fmin.is_valid:
            why = []
            if fmin.has_reached_call_limit:
                why.append("call limit reached")
            if fmin.is_above_max_edm:
                why.append(f"EDM {fmin.edm:.3g} above tolerance")
            if fmin.has_parameters_at_limit:
                why.append("parameter at limit")
            problems.append("MIGRAD did not converge" + (f" ({', '.join(why)})" if why else ""))
        elif not fmin.has_accurate_covar or fmin.has_made_posdef_covar:
            problems.append("HESSE covariance not accurate")
        minos_d: dict[str, tuple[float, float]] | None = None
        minos_ok: dict[str, bool] | None = None
        if minos and not problems:
            try:
                m.minos()
            except RuntimeError as err:  # iminuit refuses MINOS on an invalid minimum
                problems.append(f"MINOS failed: {err}")
            else:
                minos_d, minos_ok = {}, {}
                for name in self.free:
                    me = m.merrors[name]
                    minos_d[name] = (float(me.lower), float(me.upper))
                    minos_ok[name] = bool(me.is_valid)
                bad = [k for k, ok in minos_ok.items() if not ok]
                if bad:
                    problems.append(f"MINOS invalid for {', '.join(bad)}")
        names = self.nll.names
        values = {n: float(m.values[n]) for n in names}
        errors = {n: float(m.errors[n]) for n in names}
        if m.covariance is not None:
            cov = np.array(m.covariance, dtype=np.float64)
        else:
            cov = np.full((len(names), len(names)), np.nan)
        sd = np.sqrt(np.abs(np.diag(cov)))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(sd, sd)
        fixed = {k: v for k, v in self.at.to_dict().items() if k not in self.free}
        if self.nll.background is not None and not self.nll.fit_fraction and self.nll.fraction:
            fixed[BACKGROUND_FRACTION] = self.nll.fraction
        message = "; ".join(problems)
        valid = not problems
        if not valid:
            warnings.warn(
                f"fit of {', '.join(names)} on {self.nll.n_events} events is not valid: {message}",
                FitNotConvergedWarning,
                stacklevel=2,
            )
        result = FitResult(
            values=values,
            errors=errors,
            minos=minos_d,
            minos_valid=minos_ok,
            covariance=tuple(tuple(float(x) for x in row) for row in cov),
            correlation=tuple(tuple(float(x) for x in row) for row in corr),
            valid=valid,
            nll=float(fmin.fval),
            n_events=self.nll.n_events,
            q2_range=self.q2_range,
            free=self.free,
            fixed=fixed,
            parameters=names,
            edm=float(fmin.edm),
            nfcn=int(fmin.nfcn),
            n_dropped=self.n_dropped,
            normalisation=self.normalisation_kind,
            message=message,
        )
        self._result = result
        return result

    def scan(
        self,
        parameter: str,
        values: Sequence[float] | np.ndarray,
        *,
        profile: bool = True,
    ) -> ScanResult:
        """Scan −ln L in one parameter, relative to the best fit.

        Parameters
        ----------
        parameter : str
            A free parameter (a shift or ``f_bkg``).
        values : array_like, shape (m,)
            Points to evaluate.
        profile : bool
            Minimise over the other parameters at each point (profile likelihood); otherwise
            keep them at their best-fit values.

        Returns
        -------
        ScanResult
        """
        names = self.nll.names
        if parameter not in names:
            raise DataError(f"cannot scan '{parameter}': free parameters are {', '.join(names)}")
        grid = np.asarray(values, dtype=np.float64).ravel()
        if grid.size == 0 or not np.all(np.isfinite(grid)):
            raise DataError("scan values must be a non-empty array of finite numbers")
        if self._result is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FitNotConvergedWarning)
                self.fit()
        assert self._result is not None
        best = np.array([self._result.values[n] for n in names])
        nll0 = self._result.nll
        idx = names.index(parameter)
        out = np.empty(grid.size)
        ok = np.ones(grid.size, dtype=bool)
        from iminuit import Minuit

        for i, v in enumerate(grid):
            x = best.copy()
            x[idx] = v
            if profile and len(names) > 1:
                m = Minuit(self.nll, x.tolist(), grad=self.nll.grad, name=names)
                m.print_level = 0
                m.fixed[parameter] = True
                if self.nll.fit_fraction and parameter != BACKGROUND_FRACTION:
                    m.limits[BACKGROUND_FRACTION] = (0.0, 1.0)
                m.migrad()
                out[i] = m.fval
                ok[i] = m.valid
            else:
                out[i] = self.nll(x)
        return ScanResult(parameter, grid, out - nll0, profile, ok)


def fit_events(
    events: Mapping[str, np.ndarray],
    *,
    free: Sequence[str] | str = ("dc9",),
    fixed: Mapping[str, float] | WilsonShifts | None = None,
    q2_range: Sequence[float] | None = None,
    constants: ModelConstants = SEED_MODEL,
    acceptance: Any = None,
    background: Any = None,
    background_fraction: float | None = None,
    fraction_error: float | None = None,
    fix_fraction: bool = False,
    outside: Literal["raise", "drop"] = "raise",
    use_mkpi: bool = False,
    min_events: int = 10,
    minos: bool = False,
    strategy: int = 1,
    start: Mapping[str, float] | None = None,
    max_calls: int | None = None,
    scan: tuple[str, Sequence[float]] | None = None,
) -> FitResult:
    """Fit Wilson-coefficient shifts to events (see :meth:`LikelihoodFit.from_events`).

    Parameters
    ----------
    events : mapping of str to ndarray
        Native event columns, shape (n,) each.
    free, fixed, q2_range, constants, acceptance, background, background_fraction,
    fraction_error, fix_fraction, outside, use_mkpi, min_events
        See :meth:`LikelihoodFit.from_events`.
    minos, strategy, start, max_calls
        See :meth:`LikelihoodFit.fit`.
    scan : (str, sequence of float), optional
        Parameter and values of a likelihood profile (:meth:`LikelihoodFit.scan`) stored in
        the result.

    Returns
    -------
    FitResult
    """
    lf = LikelihoodFit.from_events(
        events,
        free=free,
        fixed=fixed,
        q2_range=q2_range,
        constants=constants,
        acceptance=acceptance,
        background=background,
        background_fraction=background_fraction,
        fraction_error=fraction_error,
        fix_fraction=fix_fraction,
        outside=outside,
        use_mkpi=use_mkpi,
        min_events=min_events,
    )
    result = lf.fit(minos=minos, strategy=strategy, start=start, max_calls=max_calls)
    if scan is not None:
        profile = lf.scan(scan[0], scan[1], profile=True)
        result = dataclasses.replace(result, scan=profile.to_dict())
        lf._result = result
    return result
