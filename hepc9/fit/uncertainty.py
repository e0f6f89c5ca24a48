"""Template and efficiency components of the fit error.

The fit likelihood depends, besides the data, on two finite samples: the Mbc sideband (through
the background template coefficients a) and the efficiency simulation (through the
normalisation 𝕄_ε = Σ w_i M(x_i) and the template normalisation Σ w_i g(x_i)).  Their
statistical fluctuations move the best fit x̂ = (θ̂, f̂); this module measures how much.

Both use the same linearised refit: for perturbed inputs the new minimum is one Newton step
from x̂, Δx = −H'(x̂)⁻¹ ∇' (exact gradient and Hessian of the perturbed −ln L), which is the
first-order profile of a simultaneous fit with the perturbed quantities as nuisance parameters.

* **template**: a is moved by ±√λ_k v_k along every eigenvector of the template covariance
  V_a = H_sb⁻¹/n_sb (:attr:`~hepc9.fit.templates.BackgroundTemplate.covariance`);
  σ²_tmpl = Σ_k ((Δx_k⁺ − Δx_k⁻)/2)².  It scales as 1/√n_sb.
* **efficiency**: a Poisson bootstrap of the simulation sample (every event weighted by
  r ~ Poisson(1), ``replicas`` times, from the stream ``rng(seed, "fit_errors")``) recomputes
  both normalisations; σ_eff is the spread of x̂ over the replicas.  It scales as
  1/√n_eff (Kish effective size, reported).

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

from hepc9.fit.nll import UnbinnedNLL
from hepc9.fit.templates import template_features
from hepc9.seeding import rng as stream_rng

__all__ = ["ErrorComponents", "error_components", "with_error_components"]


@dataclass(frozen=True)
class ErrorComponents:
    """Error components of one fit (dicts over the fit parameters).

    Attributes
    ----------
    statistical, template, efficiency, total : dict of str to float
    efficiency_replicas : int
        Bootstrap replicas used (0: efficiency component not evaluated).
    efficiency_effective_size : float or None
        Kish effective size of the efficiency sample (``None`` without one).
    sideband_events : int or None
        Sideband events of the template (``None`` without a template).
    """

    statistical: dict[str, float]
    template: dict[str, float]
    efficiency: dict[str, float]
    total: dict[str, float]
    efficiency_replicas: int = 0
    efficiency_effective_size: float | None = None
    sideband_events: int | None = None

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


def _log_sum_exp(w: np.ndarray, z: np.ndarray) -> float:
    zmax = float(z.max())
    return math.log(float(w @ np.exp(z - zmax))) + zmax


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
    replicas : int
        Poisson-bootstrap replicas of the efficiency sample (0: skip).
    seed : int
        Master seed of the bootstrap stream.

    Returns
    -------
    ErrorComponents
    """
    names = nll.names
    x = np.array([best[n] for n in names])
    var_t = np.zeros(len(names))
    var_e = np.zeros(len(names))
    phi_e: np.ndarray | None = None
    phi_a: np.ndarray | None = None
    a0 = np.zeros(0)
    if template is not None:
        a0 = np.asarray(template.coefficients)
        phi_e = template_features(events, template.orders, template.q2_range)
        if acceptance is not None:
            phi_a = template_features(acceptance.points, template.orders, template.q2_range)

    def bkg_at(a: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        if phi_a is not None:
            w = acceptance.weights if weights is None else weights
            log_norm = _log_sum_exp(w, phi_a @ a)
            return np.exp(phi_e @ a - log_norm)
        return template.with_coefficients(a).density(events)

    norm0 = nll.normalisation
    if template is not None and template.covariance:  # a0 set from the template above
        lam, vec = np.linalg.eigh(np.asarray(template.covariance))
        for k in range(lam.size):
            if lam[k] <= 0.0:
                continue
            step = math.sqrt(lam[k]) * vec[:, k]
            up = _newton_shift(nll, norm0, bkg_at(a0 + step), x)
            down = _newton_shift(nll, norm0, bkg_at(a0 - step), x)
            var_t += (0.5 * (up - down)) ** 2
    n_rep = 0
    if acceptance is not None and replicas >= 2:
        coeffs = acceptance.coefficients(params=params, at=at, constants=constants)
        gen = stream_rng(seed, "fit_errors")
        shifts = []
        g0 = b0 = None
        if template is not None:
            # the template is fixed here: only its normalisation Σ w g changes per replica
            b0 = nll.background
            z0 = None if phi_a is None else phi_a @ a0
            g0 = None if z0 is None else np.exp(z0 - z0.max())
        for _ in range(replicas):
            w = acceptance.weights * gen.poisson(1.0, acceptance.weights.size)
            w = w / w.sum()
            bkg = None
            if b0 is not None and g0 is not None:
                bkg = b0 * (float(acceptance.weights @ g0) / float(w @ g0))
            shifts.append(_newton_shift(nll, w @ coeffs, bkg, x))
        var_e = np.var(np.asarray(shifts), axis=0, ddof=1)
        n_rep = replicas
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
        The fit options (template, acceptance, replicas, seed).

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
        replicas=options.efficiency_replicas,
        seed=options.error_seed,
    )
    return dataclasses.replace(result, errors=comp.total, error_components=comp.to_dict())
