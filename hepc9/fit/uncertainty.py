"""Template and efficiency components of the fit error.

The fit likelihood depends, besides the data, on two finite samples: the Mbc sideband (through
the background template coefficients a) and the efficiency simulation (through the
normalisation 𝕄_ε = Σ w_i M(x_i) and the template normalisation Z = Σ w_i g(x_i)).  Their
statistical fluctuations move the best fit x̂ = (θ̂, f̂); this module measures how much.

Both use the same linearised refit: for perturbed inputs the new minimum is one Newton step
from x̂, Δx = −H'(x̂)⁻¹ ∇' (exact gradient and Hessian of the perturbed −ln L), which is the
first-order profile of a simultaneous fit with the perturbed quantities as nuisance parameters.
The input covariance V is diagonalised, V = Σ_k λ_k v_k v_kᵀ, and the refit is evaluated at
±√λ_k v_k: σ² = Σ_k ((Δx_k⁺ − Δx_k⁻)/2)², the delta method J V Jᵀ with the Jacobian J taken by
central differences along the eigenvectors (exact to second order in the step;
:mod:`hepc9.propagation`).  Every step is
one gradient and Hessian over the fitted events only; the large samples enter once.

* **template**: V_a = H_sb⁻¹/n_sb of the sideband fit
  (:attr:`~hepc9.fit.templates.BackgroundTemplate.covariance`); the background density is moved
  as ln b(a0 + s) = ln b0 + (Φ_e − ∂ln Z/∂a)·s (first order, the normalisation gradient from
  :func:`~hepc9.fit.template_basis.log_norm_gradient`).  Scales as 1/√n_sb.
* **efficiency**, ``method="linear"`` (default): the per-event contributions y_i = (M(x_i),
  g(x_i)/Z) of the simulation sample have the sample covariance V_y = Σ_i w_i² (y_i − ȳ)(y_i −
  ȳ)ᵀ (the variance of Σ w_i r_i y_i / Σ w_i r_i to first order under r_i ~ Poisson(1), i.e.
  the bootstrap's); the steps move 𝕄_ε and Z together.  Scales as 1/√n_eff (Kish
  effective size, reported).
* **efficiency**, ``method="bootstrap"``: the Poisson bootstrap itself (``replicas`` reweighted
  copies from the stream ``rng(seed, "fit_errors")``, one Newton refit each); kept to validate
  the linear method (tests/fit/test_fit_error_components.py) at ``replicas``× its cost.
* ``method="none"``: no efficiency component (e.g. ensembles sharing one simulation sample).

The total error is √(σ²_stat + σ²_tmpl + σ²_eff); the fit result keeps it in ``errors`` and the
components in ``error_components``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.fit.kernels import weighted_covariance
from hepc9.fit.nll import UnbinnedNLL
from hepc9.fit.packed import monomial_jacobian, monomials
from hepc9.fit.template_basis import acceptance_terms, log_norm_gradient, template_features
from hepc9.propagation import central_variance, eigen_steps
from hepc9.seeding import rng as stream_rng

__all__ = ["EFFICIENCY_METHODS", "ErrorComponents", "error_components", "with_error_components"]

#: Ways to propagate the efficiency-sample statistics (module docstring).
EFFICIENCY_METHODS: tuple[str, ...] = ("linear", "bootstrap", "none")


@dataclass(frozen=True)
class ErrorComponents:
    """Error components of one fit (dicts over the fit parameters).

    Attributes
    ----------
    statistical, template, efficiency, total : dict of str to float
    efficiency_replicas : int
        Bootstrap replicas used (0 with the linear method or without a component).
    efficiency_effective_size : float or None
        Kish effective size of the efficiency sample (``None`` without one).
    sideband_events : int or None
        Sideband events of the template (``None`` without a template).
    efficiency_method : str
        ``linear``, ``bootstrap`` or ``none`` (no efficiency component evaluated).
    efficiency_density : str or None
        Generator density of the efficiency sample (``rate``, ``flat_angles``, ``mixture``;
        ``None`` without one).
    """

    statistical: dict[str, float]
    template: dict[str, float]
    efficiency: dict[str, float]
    total: dict[str, float]
    efficiency_replicas: int = 0
    efficiency_effective_size: float | None = None
    sideband_events: int | None = None
    efficiency_method: str = "none"
    efficiency_density: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data."""
        return {
            "statistical": dict(self.statistical),
            "template": dict(self.template),
            "efficiency": dict(self.efficiency),
            "total": dict(self.total),
            "efficiency_replicas": self.efficiency_replicas,
            "efficiency_effective_size": self.efficiency_effective_size,
            "sideband_events": self.sideband_events,
            "efficiency_method": self.efficiency_method,
            "efficiency_density": self.efficiency_density,
        }


def _newton_shift(nll: UnbinnedNLL, norm: np.ndarray, bkg: np.ndarray | None, x: np.ndarray):
    other = UnbinnedNLL(
        nll.coefficients,
        norm,
        names=nll.shift_names,
        background=bkg,
        fraction=nll.fraction,
        fit_fraction=nll.fit_fraction,
        fraction_constraint=nll.fraction_constraint,
    )
    _, grad, hess = other.value_grad_hessian(x)
    return -np.linalg.solve(hess, grad)


def _background_weights(nll: UnbinnedNLL, x: np.ndarray) -> np.ndarray:
    """Return c (n, m): ∂∇(−ln L)/∂ln b_e, the gradient's response to each event's background.

    With L_e = (1 − f) S_e(θ) + f b_e, S_e = C_e·m(θ)/𝕄·m(θ): c_eθ = (1 − f) f b_e ∂_θS_e / L_e²
    and c_ef = −b_e/L_e + (b_e − S_e) f b_e / L_e².
    """
    k = nll.k
    theta = x[:k]
    f = float(x[k]) if nll.fit_fraction else nll.fraction
    mono, jac = monomials(theta), monomial_jacobian(theta)
    gamma = float(nll.normalisation @ mono)
    sig = nll.coefficients @ mono / gamma
    dsig = (nll.coefficients @ jac - np.outer(sig, nll.normalisation @ jac)) / gamma
    b = nll.background
    like = (1.0 - f) * sig + f * b
    fb = f * b / like**2
    cols = [(1.0 - f) * dsig * fb[:, None]]
    if nll.fit_fraction:
        cols.append((-b / like + (b - sig) * fb)[:, None])
    return np.concatenate(cols, axis=1)


def _efficiency_linear(
    nll: UnbinnedNLL, x: np.ndarray, coeffs: np.ndarray, g: np.ndarray | None, w: np.ndarray
) -> np.ndarray:
    """Efficiency variance from the sample covariance of the contributions (M(x_i)[, g_i/Z])."""
    p = coeffs.shape[1]
    cov = weighted_covariance(coeffs, w, g)[1]
    b0 = None if g is None else nll.background

    def shift(step: np.ndarray) -> np.ndarray:
        bkg = None if b0 is None else b0 / (1.0 + step[p])
        return _newton_shift(nll, nll.normalisation + step[:p], bkg, x)

    return central_variance(shift, eigen_steps(cov), x.size)


def _efficiency_bootstrap(
    nll: UnbinnedNLL, x: np.ndarray, y: np.ndarray, w0: np.ndarray, p: int, replicas: int,
    seed: int,
) -> np.ndarray:  # fmt: skip
    gen = stream_rng(seed, "fit_errors")
    b0 = nll.background if y.shape[1] > p else None
    shifts = []
    for _ in range(replicas):
        w = w0 * gen.poisson(1.0, w0.size)
        w = w / w.sum()
        bkg = None if b0 is None else b0 / float(w @ y[:, p])
        shifts.append(_newton_shift(nll, w @ y[:, :p], bkg, x))
    return np.var(np.asarray(shifts), axis=0, ddof=1)


def error_components(
    nll: UnbinnedNLL,
    best: Mapping[str, float],
    statistical: Mapping[str, float],
    events: Mapping[str, np.ndarray],
    *,
    template: Any = None,
    acceptance: Any = None,
    params: tuple[str, ...] = (),
    at: Any = None,
    constants: Any = None,
    method: str = "linear",
    replicas: int = 20,
    seed: int = 0,
) -> ErrorComponents:
    """Propagate the template and efficiency sample statistics into the fit error.

    Parameters
    ----------
    nll : UnbinnedNLL
        The fitted likelihood.
    best, statistical : mapping of str to float
        Best-fit values and HESSE errors of ``nll.names``.
    events : mapping of str to ndarray
        The fitted events (in the window), in the order of ``nll.coefficients``.
    template : BackgroundTemplate, optional
    acceptance : AcceptanceSample, optional
    params, at, constants
        Free shifts, expansion point and model of the fit (for the acceptance normalisation).
    method : {"linear", "bootstrap", "none"}
        Efficiency propagation (module docstring).
    replicas : int
        Poisson-bootstrap replicas with ``method="bootstrap"`` (fewer than 2: skipped).
    seed : int
        Master seed of the bootstrap stream.

    Returns
    -------
    ErrorComponents
    """
    if method not in EFFICIENCY_METHODS:
        raise DataError(f"efficiency error method {method!r} must be one of {EFFICIENCY_METHODS}")
    names = nll.names
    x = np.array([best[n] for n in names])
    var_t = np.zeros(len(names))
    var_e = np.zeros(len(names))
    g_acc: np.ndarray | None = None
    if template is not None:
        a0 = np.asarray(template.coefficients, dtype=np.float64)
        dlog_z = log_norm_gradient(
            template.orders, template.q2_range, a0, acceptance=acceptance
        )[1]
        if acceptance is not None:
            g_acc = acceptance_terms(acceptance, template.orders, template.q2_range, a0)[2]
        if template.covariance:
            dlog_b = template_features(events, template.orders, template.q2_range) - dlog_z
            # ∂x̂/∂a = −H⁻¹ ∂∇/∂a (the sign does not matter for the variance)
            # einsum, not BLAS: OpenBLAS takes seconds for this (2, n) @ (n, F) product on
            # a loaded machine (measured), einsum a millisecond
            grad_a = np.einsum("em,ef->mf", _background_weights(nll, x), dlog_b)
            sens = np.linalg.solve(nll.value_grad_hessian(x)[2], grad_a)
            var_t = np.einsum("ia,ab,ib->i", sens, np.asarray(template.covariance), sens)
    n_rep = 0
    used = "none"
    if acceptance is not None and method != "none" and not (method == "bootstrap" and replicas < 2):
        coeffs = acceptance.coefficients(params=params, at=at, constants=constants)
        if method == "linear":
            var_e = _efficiency_linear(nll, x, coeffs, g_acc, acceptance.weights)
        else:
            p = coeffs.shape[1]
            y = coeffs if g_acc is None else np.concatenate((coeffs, g_acc[:, None]), axis=1)
            var_e = _efficiency_bootstrap(nll, x, y, acceptance.weights, p, replicas, seed)
            n_rep = replicas
        used = method
    stat = {n: float(statistical[n]) for n in names}
    tmpl = {n: float(math.sqrt(v)) for n, v in zip(names, var_t, strict=True)}
    eff = {n: float(math.sqrt(v)) for n, v in zip(names, var_e, strict=True)}
    total = {n: float(math.sqrt(stat[n] ** 2 + tmpl[n] ** 2 + eff[n] ** 2)) for n in names}
    return ErrorComponents(
        statistical=stat,
        template=tmpl,
        efficiency=eff,
        total=total,
        efficiency_replicas=n_rep,
        efficiency_effective_size=None if acceptance is None else acceptance.effective_size,
        sideband_events=None if template is None else template.n_events,
        efficiency_method=used,
        efficiency_density=None if acceptance is None else acceptance.density,
    )


def with_error_components(lf: Any, result: Any, options: Any) -> Any:
    """Return ``result`` with total ``errors`` and its ``error_components`` filled in.

    Parameters
    ----------
    lf : LikelihoodFit
        The fit built by ``LikelihoodFit.from_events`` (its window events are used).
    result : FitResult
        Its best fit.
    options : FitOptions
        The fit options (template, acceptance, efficiency method, replicas, seed).

    Returns
    -------
    FitResult
    """
    comp = error_components(
        lf.nll,
        result.values,
        result.errors,
        lf.window_events,
        template=options.background,
        acceptance=options.acceptance,
        params=options.free,
        at=lf.at,
        constants=options.constants,
        method=options.efficiency_error,
        replicas=options.efficiency_replicas,
        seed=options.error_seed,
    )
    return dataclasses.replace(result, errors=comp.total, error_components=comp.to_dict())
