"""The FCN of the unbinned fit: −ln L with analytic gradient and Hessian (physics.md §6.2).

:class:`UnbinnedNLL` holds the packed per-event forms, the packed normalisation 𝕄 and the
background model, and evaluates (with ``errordef = 0.5``, as iminuit expects)::

    −ln L(θ, f) = −Σ_e ln[ (1 − f) C_e·m(θ) / 𝕄·m(θ) + f G_e ]   (+ (f − f0)²/2σ_f²)

from the event sums of :mod:`hepc9.fit.kernels` and the monomials of :mod:`hepc9.fit.packed`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hepc9.errors import DataError, ShapeError
from hepc9.fit.kernels import hessian_terms, hessian_terms_numpy, nll_terms, nll_terms_numpy
from hepc9.fit.packed import monomial_jacobian, monomial_second, monomials, n_packed

__all__ = ["BACKGROUND_FRACTION", "UnbinnedNLL"]

#: Name of the background-fraction nuisance parameter.
BACKGROUND_FRACTION = "f_bkg"


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
        Background density G_e relative to the normalisation (see :mod:`hepc9.fit.likelihood`).
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
        second = monomial_second(k)
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
