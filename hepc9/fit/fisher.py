"""Fisher information of the 4D rate and the Cramér–Rao bound (physics.md §6).

For the normalised event density p(x; θ) the Fisher information per event is

    I_ab(θ) = E[∂_a ln p ∂_b ln p] = ∫ ∂_a p ∂_b p / p dx,

and no unbiased estimator from N events has a covariance below (N I)⁻¹.  With the exact
quadratic form (:mod:`hepc9.physics.quadratic`) expanded *at the point θ itself*,
rate = M_00, ∂_a rate = 2 M_0a and Γ = 𝕄_00, ∂_a Γ = 2 𝕄_0a, so every derivative is exact.

Three ways to compute the integral:

* ``quadrature`` (default, no acceptance): a product rule in (q², cosθℓ, cosθK, χ) —
  composite Gauss–Legendre in q² split at the points where the rate changes character
  (photon pole, charm threshold) with a cosine map on each piece, Gauss–Legendre in both cosines
  and the trapezoid rule in the periodic χ.  The same nodes give Γ, so the score has mean zero
  on the grid;
* ``acceptance``: the Monte Carlo sum over an :class:`~hepc9.fit.acceptance.AcceptanceSample`
  (weights ∝ 1/p_gen), I ≈ Σ w_i ∂q_i ∂q_iᵀ / q_i with q = p/ε, and its MC error;
* ``sample``: the plain average of the score outer product over events drawn from the model at θ.

Background dilution: p = (1 − f) S + f B with the background template B; the fraction can be a
further (nuisance) parameter, whose uncertainty then enters the bound of the shifts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hepc9.errors import DataError
from hepc9.fit.inputs import (
    check_free,
    event_coefficients,
    model_normalisation,
    resolve_q2_range,
    select_window,
)
from hepc9.fit.nll import BACKGROUND_FRACTION
from hepc9.physics.angular import angular_functions
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, ModelConstants, WilsonShifts
from hepc9.physics.quadratic import angular_coefficient_matrices

__all__ = ["CRBResult", "cramer_rao", "fisher_information"]

_TWO_PI = 2.0 * math.pi
_PREFACTOR = 9.0 / (32.0 * math.pi)


def _q2_nodes(
    lo: float, hi: float, n: int, constants: ModelConstants
) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes/weights in q² with a cosine map per segment."""
    breaks = [0.1, 0.3, 1.0, 3.0, 4.0 * constants.m_c**2, 12.0]
    edges = [lo, *[b for b in breaks if lo < b < hi], hi]
    x, w = np.polynomial.legendre.leggauss(n)
    t = 0.5 * math.pi * (x + 1.0)
    frac = 0.5 * (1.0 - np.cos(t))
    jac = 0.25 * math.pi * np.sin(t)
    nodes, weights = [], []
    for a, b in itertools.pairwise(edges):
        nodes.append(a + (b - a) * frac)
        weights.append((b - a) * jac * w)
    return np.concatenate(nodes), np.concatenate(weights)


def _angle_grid(n_l: int, n_k: int, n_chi: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    xl, wl = np.polynomial.legendre.leggauss(n_l)
    xk, wk = np.polynomial.legendre.leggauss(n_k)
    chi = (np.arange(n_chi) + 0.5) * (_TWO_PI / n_chi)
    wc = np.full(n_chi, _TWO_PI / n_chi)
    cl, ck, ch = np.meshgrid(xl, xk, chi, indexing="ij")
    w = (wl[:, None, None] * wk[None, :, None] * wc[None, None, :]).ravel()
    return {"costheta_l": cl.ravel(), "costheta_k": ck.ravel(), "chi": ch.ravel()}, w


def _info_from_terms(
    w: np.ndarray,
    r: np.ndarray,
    dr: np.ndarray,
    bkg: np.ndarray | None,
    fraction: float,
    fraction_free: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (I, per-point contributions) from weights, rates and rate derivatives."""
    gamma = float(w @ r)
    dgamma = w @ dr
    s = r / gamma
    ds = dr / gamma - np.outer(s, dgamma) / gamma
    if bkg is None:
        p = s
        dp = ds
    else:
        p = (1.0 - fraction) * s + fraction * bkg
        dp = (1.0 - fraction) * ds
        if fraction_free:
            dp = np.concatenate((dp, (bkg - s)[:, None]), axis=1)
    inv_p = np.divide(1.0, p, out=np.zeros_like(p), where=p > 0.0)
    contrib = dp[:, :, None] * dp[:, None, :] * (w * inv_p)[:, None, None]
    return contrib.sum(axis=0), contrib


def fisher_information(
    *,
    at: WilsonShifts = ZERO_SHIFTS,
    params: Sequence[str] = ("dc9",),
    q2_range: Sequence[float] | None = None,
    constants: ModelConstants = SEED_MODEL,
    acceptance: Any = None,
    background: Any = None,
    background_fraction: float = 0.0,
    fraction_free: bool = False,
    sample: Mapping[str, np.ndarray] | None = None,
    nodes: tuple[int, int, int, int] = (32, 24, 24, 24),
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Return the Fisher information per event.

    Parameters
    ----------
    at : WilsonShifts
        The point θ (all six shifts) where the information is evaluated.
    params : sequence of str
        Parameters of the information matrix (shifts).
    q2_range : (float, float), optional
        Window in GeV² (default full range).
    constants : ModelConstants
    acceptance : AcceptanceSample, optional
        Use the efficiency-corrected density (Monte Carlo over the sample).
    background : BackgroundTemplate, optional
        Background density for the dilution.
    background_fraction : float
        Background fraction f.
    fraction_free : bool
        Add f as a last parameter (nuisance).
    sample : mapping of str to ndarray, optional
        Events drawn from the model at ``at`` (method ``sample``; no acceptance or background).
    nodes : (int, int, int, int)
        Quadrature nodes per q² segment, in cosθℓ, cosθK and χ.

    Returns
    -------
    info : ndarray, shape (m, m)
        Fisher information per event (m = k, or k+1 with a free fraction).
    error : ndarray, shape (m, m) or None
        Monte Carlo standard error of each entry (None for quadrature).
    method : str
        ``"quadrature"``, ``"acceptance"`` or ``"sample"``.
    """
    names = check_free(params)
    window = resolve_q2_range(q2_range, constants)
    f = float(background_fraction)
    if not 0.0 <= f < 1.0:
        raise DataError(f"background fraction {f} must be in [0, 1)")
    if (f > 0.0 or fraction_free) and background is None:
        raise DataError("background dilution needs a background template (sideband fit)")
    k = len(names)

    if sample is not None:
        if acceptance is not None or background is not None:
            raise DataError("the 'sample' method supports neither acceptance nor background")
        ev, _ = select_window(sample, window, outside="raise", what="model sample")
        c = event_coefficients(ev, params=names, at=at, constants=constants, q2_range=window)
        norm = model_normalisation(params=names, at=at, constants=constants, q2_range=window)
        r = c[:, 0]
        dr = 2.0 * c[:, 1 : k + 1]
        score = dr / r[:, None] - 2.0 * norm[1 : k + 1] / norm[0]
        n = score.shape[0]
        info = score.T @ score / n
        outer = score[:, :, None] * score[:, None, :]
        err = outer.std(axis=0, ddof=1) / math.sqrt(n)
        return info, err, "sample"

    if acceptance is not None:
        acceptance.check_window(window)
        c = acceptance.coefficients(params=names, at=at, constants=constants)
        w = acceptance.weights
        r = c[:, 0]
        dr = 2.0 * c[:, 1 : k + 1]
        bkg = None
        if background is not None:
            bkg = background.density_for_fit(acceptance.points, acceptance=acceptance)
        info, contrib = _info_from_terms(w, r, dr, bkg, f, fraction_free)
        # importance-sampling error of Σ w h with Σ w = 1: √(Σ (w h − w I)²)
        dev = contrib - w[:, None, None] * info[None, :, :]
        err = np.sqrt(np.sum(dev**2, axis=0))
        return info, err, "acceptance"

    n_q, n_l, n_k, n_c = (int(x) for x in nodes)
    if min(n_q, n_l, n_k, n_c) < 4:
        raise DataError(f"quadrature nodes {tuple(nodes)} must all be at least 4")
    q2, wq = _q2_nodes(window[0], window[1], n_q, constants)
    ang, wa = _angle_grid(n_l, n_k, n_c)
    fa = angular_functions(ang["costheta_l"], ang["costheta_k"], ang["chi"])  # (12, A)
    jm = angular_coefficient_matrices(q2, params=names, at=at, constants=constants)  # (12,Q,K,K)
    row = jm[:, :, 0, :]  # (12, Q, K): M_00 and M_0a
    vals = _PREFACTOR * np.einsum("iqc,ia->qac", row, fa)  # (Q, A, K)
    r = vals[..., 0].ravel()
    dr = 2.0 * vals[..., 1:].reshape(-1, k)
    w = (wq[:, None] * wa[None, :]).ravel()
    bkg = None
    if background is not None:
        pts = {
            "q2": np.repeat(q2, wa.size),
            "costheta_l": np.tile(ang["costheta_l"], q2.size),
            "costheta_k": np.tile(ang["costheta_k"], q2.size),
            "chi": np.tile(ang["chi"], q2.size),
        }
        bkg = background.density_for_fit(pts)
    info, _ = _info_from_terms(w, r, dr, bkg, f, fraction_free)
    return info, None, "quadrature"


@dataclass(frozen=True)
class CRBResult:
    """Cramér–Rao bound for N events.

    Attributes
    ----------
    parameters : tuple of str
        Parameters of the information matrix (shifts, then ``f_bkg`` when free).
    at : dict of str to float
        The Wilson-coefficient point.
    n_events : int
    q2_range : (float, float)
    sigma : dict of str to float
        √ of the diagonal of (N I)⁻¹: the smallest standard deviation of an unbiased estimator.
    fisher : tuple of tuple of float
        Information per event.
    covariance : tuple of tuple of float
        (N I)⁻¹.
    method : str
    fisher_error : tuple of tuple of float or None
        Monte Carlo error of the per-event information.
    background_fraction : float
    sigma_fraction_fixed, sigma_fraction_free : dict of str to float or None
        Both background-fraction treatments side by side (set by ``hepc9 crb`` with background).
    """

    parameters: tuple[str, ...]
    at: dict[str, float]
    n_events: int
    q2_range: tuple[float, float]
    sigma: dict[str, float]
    fisher: tuple[tuple[float, ...], ...]
    covariance: tuple[tuple[float, ...], ...]
    method: str
    fisher_error: tuple[tuple[float, ...], ...] | None = None
    background_fraction: float = 0.0
    sigma_fraction_fixed: dict[str, float] | None = None
    sigma_fraction_free: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data."""
        return {
            "parameters": list(self.parameters),
            "at": dict(self.at),
            "n_events": self.n_events,
            "q2_range": list(self.q2_range),
            "sigma": dict(self.sigma),
            "fisher": [list(r) for r in self.fisher],
            "covariance": [list(r) for r in self.covariance],
            "method": self.method,
            "fisher_error": None
            if self.fisher_error is None
            else [list(r) for r in self.fisher_error],
            "background_fraction": self.background_fraction,
            "sigma_fraction_fixed": self.sigma_fraction_fixed,
            "sigma_fraction_free": self.sigma_fraction_free,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CRBResult:
        """Rebuild from :meth:`to_dict` output."""
        fe = data.get("fisher_error")
        return cls(
            parameters=tuple(data["parameters"]),
            at={k: float(v) for k, v in data["at"].items()},
            n_events=int(data["n_events"]),
            q2_range=(float(data["q2_range"][0]), float(data["q2_range"][1])),
            sigma={k: float(v) for k, v in data["sigma"].items()},
            fisher=tuple(tuple(float(x) for x in r) for r in data["fisher"]),
            covariance=tuple(tuple(float(x) for x in r) for r in data["covariance"]),
            method=str(data["method"]),
            fisher_error=None if fe is None else tuple(tuple(float(x) for x in r) for r in fe),
            background_fraction=float(data.get("background_fraction", 0.0)),
            sigma_fraction_fixed=data.get("sigma_fraction_fixed"),
            sigma_fraction_free=data.get("sigma_fraction_free"),
        )

    def table(self) -> str:
        """Return a plain-text summary."""
        point = (
            ", ".join(f"{k}={v:g}" for k, v in self.at.items() if v != 0.0) or "SM (all shifts 0)"
        )
        lines = [
            f"Cramér–Rao bound for {self.n_events} events at {point}, q² in "
            f"[{self.q2_range[0]:.4g}, {self.q2_range[1]:.4g}] GeV² ({self.method})",
        ]
        if self.background_fraction:
            lines.append(f"background fraction {self.background_fraction:g}")
        for i, name in enumerate(self.parameters):
            per_event = 1.0 / math.sqrt(self.fisher[i][i]) if self.fisher[i][i] > 0 else math.inf
            lines.append(
                f"  σ_CRB({name}) = {self.sigma[name]:.5f}   (single-parameter: "
                f"{per_event / math.sqrt(self.n_events):.5f}; "
                f"I per event = {self.fisher[i][i]:.5g})"
            )
        sides = (("fixed", self.sigma_fraction_fixed), ("free", self.sigma_fraction_free))
        for label, sig in sides:
            if sig:
                vals = ", ".join(f"σ({k}) = {v:.5f}" for k, v in sig.items())
                lines.append(f"  background fraction {label}: {vals}")
        return "\n".join(lines)


def cramer_rao(
    n_events: int,
    *,
    at: WilsonShifts | Mapping[str, float] = ZERO_SHIFTS,
    params: Sequence[str] | str = ("dc9",),
    q2_range: Sequence[float] | None = None,
    constants: ModelConstants = SEED_MODEL,
    acceptance: Any = None,
    background: Any = None,
    background_fraction: float = 0.0,
    fraction_free: bool = False,
    sample: Mapping[str, np.ndarray] | None = None,
    nodes: tuple[int, int, int, int] = (32, 24, 24, 24),
    method: Literal["auto"] = "auto",
) -> CRBResult:
    """Return the Cramér–Rao bound σ_CRB = √diag((N I)⁻¹) for ``n_events`` events.

    Parameters
    ----------
    n_events : int
        Number of events N (signal plus background).
    at : WilsonShifts or mapping
        The true Wilson-coefficient point.
    params : sequence of str or str
        Parameters measured jointly (default δC9 alone).
    q2_range, constants, acceptance, background, background_fraction, fraction_free, sample, nodes
        See :func:`fisher_information`.
    method : {"auto"}
        Chosen from the inputs (quadrature, acceptance MC, or model sample).

    Returns
    -------
    CRBResult
    """
    if isinstance(n_events, bool) or int(n_events) != n_events or n_events <= 0:
        raise DataError(f"n_events = {n_events!r} must be a positive integer")
    point = at if isinstance(at, WilsonShifts) else WilsonShifts.from_mapping(at)
    names = check_free(params)
    window = resolve_q2_range(q2_range, constants)
    info, err, how = fisher_information(
        at=point,
        params=names,
        q2_range=window,
        constants=constants,
        acceptance=acceptance,
        background=background,
        background_fraction=background_fraction,
        fraction_free=fraction_free,
        sample=sample,
        nodes=nodes,
    )
    all_names = (*names, BACKGROUND_FRACTION) if fraction_free else names
    try:
        cov = np.linalg.inv(int(n_events) * info)
    except np.linalg.LinAlgError as err_:
        raise DataError(
            f"the Fisher information of {', '.join(all_names)} is singular: these parameters "
            "cannot be measured jointly in this q² window"
        ) from err_
    diag = np.diag(cov)
    if np.any(diag <= 0):
        raise DataError(
            f"the Fisher information of {', '.join(all_names)} is not positive definite "
            "(too few nodes or simulation events?)"
        )
    return CRBResult(
        parameters=tuple(all_names),
        at=point.to_dict(),
        n_events=int(n_events),
        q2_range=window,
        sigma={n: float(math.sqrt(d)) for n, d in zip(all_names, diag, strict=True)},
        fisher=tuple(tuple(float(x) for x in r) for r in info),
        covariance=tuple(tuple(float(x) for x in r) for r in cov),
        method=how,
        fisher_error=None if err is None else tuple(tuple(float(x) for x in r) for r in err),
        background_fraction=float(background_fraction),
    )
