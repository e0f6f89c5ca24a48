"""Minuit steps of the unbinned fit: Newton start, MIGRAD/HESSE, MINOS, result, scans.

The FCN (:class:`~hepc9.fit.nll.UnbinnedNLL`) provides −ln L, its analytic gradient and
Hessian.  :func:`newton_steps` brings a start close to the minimum with damped Newton steps,
:func:`run_migrad` runs MIGRAD and HESSE (with a fallback for a Minuit2 failure),
:func:`collect_result` runs MINOS on request and turns the Minuit state into a
:class:`~hepc9.fit.results.FitResult` (with a :class:`~hepc9.errors.FitNotConvergedWarning`
when something failed), and :func:`scan_nll` evaluates likelihood scans and profiles.
:class:`~hepc9.fit.driver.LikelihoodFit` wires them together.  The Minuit calls themselves
(build, MIGRAD with its Minuit2 fallback, HESSE, MINOS, validity) are the one iminuit driver
:mod:`hepc9.minuit`, shared with the learned-ratio set fit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepc9.errors import FitNotConvergedWarning
from hepc9.fit.nll import BACKGROUND_FRACTION, UnbinnedNLL
from hepc9.fit.results import FitResult, ScanResult
from hepc9.minuit import migrad_hesse, minimum_problems, run_minos
from hepc9.physics.constants import WilsonShifts

__all__ = ["collect_result", "newton_steps", "run_migrad", "scan_nll"]

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
    def g2(x: Any) -> np.ndarray:
        return np.diag(nll.hessian_matrix(np.asarray(x, dtype=np.float64))).copy()

    analytic = max_calls is None
    steps = dict.fromkeys(nll.shift_names, 0.1)
    limits: dict[str, tuple[float, float]] = {}
    if nll.fit_fraction:
        limits[BACKGROUND_FRACTION] = (0.0, 1.0)
        steps[BACKGROUND_FRACTION] = 0.02
    return migrad_hesse(
        nll, x0, names=nll.names, grad=nll.grad,
        hessian=nll.hessian_matrix if analytic else False, g2=None if analytic else g2,
        retry_g2=g2, steps=steps, limits=limits, strategy=int(strategy),
        tolerance=float(tolerance), ncall=max_calls, hesse="if_valid",
    )


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
    problems = minimum_problems(m)
    fmin = m.fmin
    minos_d: dict[str, tuple[float, float]] | None = None
    minos_ok: dict[str, bool] | None = None
    if minos and not problems:
        me = run_minos(m, free)
        if me.failed is not None:  # iminuit refuses MINOS on an invalid minimum
            problems.append(f"MINOS failed: {me.failed}")
        else:
            minos_d, minos_ok = me.intervals, me.valid
            bad = me.invalid()
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
            limits = ({BACKGROUND_FRACTION: (0.0, 1.0)}
                      if nll.fit_fraction and parameter != BACKGROUND_FRACTION else {})
            m = migrad_hesse(nll, x.tolist(), names=names, grad=nll.grad, limits=limits,
                             fixed=(parameter,), hesse="never")
            out[i] = m.fval
            ok[i] = m.valid
        else:
            out[i] = nll(x)
    return ScanResult(parameter, grid, out - nll0, profile, ok)
