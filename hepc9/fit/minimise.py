"""Minuit steps of the unbinned fit: Newton start, MIGRAD/HESSE, MINOS, result, scans.

The FCN (:class:`~hepc9.fit.nll.UnbinnedNLL`) provides −ln L, its analytic gradient and
Hessian.  :func:`newton_steps` brings a start close to the minimum with damped Newton steps,
:func:`run_migrad` runs MIGRAD and HESSE (with a fallback for a Minuit2 failure),
:func:`collect_result` runs MINOS on request and turns the Minuit state into a
:class:`~hepc9.fit.results.FitResult` (with a :class:`~hepc9.errors.FitNotConvergedWarning`
when something failed), and :func:`scan_nll` evaluates likelihood scans and profiles.
:class:`~hepc9.fit.driver.LikelihoodFit` wires them together.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepc9.errors import FitNotConvergedWarning
from hepc9.fit.nll import BACKGROUND_FRACTION, UnbinnedNLL
from hepc9.fit.results import FitResult, ScanResult
from hepc9.physics.constants import WilsonShifts

__all__ = ["collect_result", "newton_steps", "run_migrad", "scan_nll"]

log = logging.getLogger(__name__)


def newton_steps(nll: UnbinnedNLL, x0: list[float], max_iter: int = 30) -> list[float]:
    """Take damped Newton steps with the analytic Hessian towards the minimum.

    Where the Hessian is not positive definite a diagonally scaled gradient step is used
    instead; only steps that lower −ln L are taken, so the result is never worse than the
    start, and MIGRAD then starts where the curvature is positive.

    Parameters
    ----------
    nll : UnbinnedNLL
    x0 : list of float
        Start (shifts, then f when it is free).
    max_iter : int

    Returns
    -------
    list of float
    """
    x = np.array(x0, dtype=np.float64)
    fval, grad, hess = nll.value_grad_hessian(x)
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
            if not (nll.fit_fraction and not 0.0 <= xn[-1] < 1.0):
                fn, gn, hn = nll.value_grad_hessian(xn)
                if math.isfinite(fn) and fn < fval:
                    break
            t *= 0.5
        else:
            break
        x, fval, grad, hess = xn, fn, gn, hn
    return x.tolist()


def run_migrad(
    nll: UnbinnedNLL,
    x0: Sequence[float],
    *,
    strategy: int = 1,
    max_calls: int | None = None,
    tolerance: float = 0.1,
) -> Any:
    """Run MIGRAD and HESSE from ``x0``; return the :class:`iminuit.Minuit` object.

    MIGRAD uses the analytic gradient and Hessian (unless a call limit is set), HESSE the
    analytic Hessian.  iminuit 2.33 fails inside Minuit2 ("'NoneType' object is not callable")
    when a seed with an analytic Hessian meets negative curvature or a call limit; in that case
    the fit is redone with only the Hessian diagonal as ``g2`` and a numerical HESSE.

    Parameters
    ----------
    nll : UnbinnedNLL
    x0 : sequence of float
    strategy : int
    max_calls : int, optional
    tolerance : float

    Returns
    -------
    iminuit.Minuit
    """
    from iminuit import Minuit

    def g2(x: Any) -> np.ndarray:
        return np.diag(nll.hessian_matrix(np.asarray(x, dtype=np.float64))).copy()

    def build(analytic: bool) -> Any:
        m = Minuit(
            nll,
            x0,
            grad=nll.grad,
            hessian=nll.hessian_matrix if analytic else False,
            g2=None if analytic else g2,
            name=nll.names,
        )
        m.strategy = int(strategy)
        m.tol = float(tolerance)
        m.print_level = 0
        for name in nll.shift_names:
            m.errors[name] = 0.1
        if nll.fit_fraction:
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
    return m


def collect_result(
    m: Any,
    nll: UnbinnedNLL,
    *,
    minos: bool,
    at: WilsonShifts,
    q2_range: tuple[float, float],
    n_dropped: int,
    normalisation_kind: str,
) -> FitResult:
    """Run MINOS on request and build the :class:`FitResult` of a minimised FCN.

    Parameters
    ----------
    m : iminuit.Minuit
        After :func:`run_migrad`.
    nll : UnbinnedNLL
    minos : bool
    at : WilsonShifts
        Expansion point (its non-free shifts are reported as ``fixed``).
    q2_range : (float, float)
    n_dropped : int
    normalisation_kind : str

    Returns
    -------
    FitResult
        ``valid=False`` and a :class:`FitNotConvergedWarning` when MIGRAD, HESSE or MINOS
        failed; the numbers are then those of the last point reached.
    """
    free = nll.shift_names
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
            for name in free:
                me = m.merrors[name]
                minos_d[name] = (float(me.lower), float(me.upper))
                minos_ok[name] = bool(me.is_valid)
            bad = [k for k, ok in minos_ok.items() if not ok]
            if bad:
                problems.append(f"MINOS invalid for {', '.join(bad)}")
    names = nll.names
    values = {n: float(m.values[n]) for n in names}
    errors = {n: float(m.errors[n]) for n in names}
    if m.covariance is not None:
        cov = np.array(m.covariance, dtype=np.float64)
    else:
        cov = np.full((len(names), len(names)), np.nan)
    sd = np.sqrt(np.abs(np.diag(cov)))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    fixed = {k: v for k, v in at.to_dict().items() if k not in free}
    if nll.background is not None and not nll.fit_fraction and nll.fraction:
        fixed[BACKGROUND_FRACTION] = nll.fraction
    message = "; ".join(problems)
    valid = not problems
    if not valid:
        warnings.warn(
            f"fit of {', '.join(names)} on {nll.n_events} events is not valid: {message}",
            FitNotConvergedWarning,
            stacklevel=3,
        )
    return FitResult(
        values=values,
        errors=errors,
        minos=minos_d,
        minos_valid=minos_ok,
        covariance=tuple(tuple(float(x) for x in row) for row in cov),
        correlation=tuple(tuple(float(x) for x in row) for row in corr),
        valid=valid,
        nll=float(fmin.fval),
        n_events=nll.n_events,
        q2_range=q2_range,
        free=free,
        fixed=fixed,
        parameters=names,
        edm=float(fmin.edm),
        nfcn=int(fmin.nfcn),
        n_dropped=n_dropped,
        normalisation=normalisation_kind,
        message=message,
    )


def scan_nll(
    nll: UnbinnedNLL,
    best: FitResult,
    parameter: str,
    grid: np.ndarray,
    *,
    profile: bool = True,
) -> ScanResult:
    """Evaluate −ln L along one parameter, relative to the best fit ``best``.

    Parameters
    ----------
    nll : UnbinnedNLL
    best : FitResult
        The best fit of ``nll`` (start point and reference −ln L).
    parameter : str
        A parameter of ``nll`` (checked by the caller).
    grid : ndarray, shape (m,)
        Finite values.
    profile : bool
        Minimise over the other parameters at each point (profile likelihood); otherwise keep
        them at their best-fit values.

    Returns
    -------
    ScanResult
    """
    from iminuit import Minuit

    names = nll.names
    x_best = np.array([best.values[n] for n in names])
    nll0 = best.nll
    idx = names.index(parameter)
    out = np.empty(grid.size)
    ok = np.ones(grid.size, dtype=bool)
    for i, v in enumerate(grid):
        x = x_best.copy()
        x[idx] = v
        if profile and len(names) > 1:
            m = Minuit(nll, x.tolist(), grad=nll.grad, name=names)
            m.print_level = 0
            m.fixed[parameter] = True
            if nll.fit_fraction and parameter != BACKGROUND_FRACTION:
                m.limits[BACKGROUND_FRACTION] = (0.0, 1.0)
            m.migrad()
            out[i] = m.fval
            ok[i] = m.valid
        else:
            out[i] = nll(x)
    return ScanResult(parameter, grid, out - nll0, profile, ok)
