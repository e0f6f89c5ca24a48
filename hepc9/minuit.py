"""The one iminuit driver: MIGRAD and HESSE with limits and steps, MINOS, validity diagnostics.

Both likelihood maximisations of the package, the unbinned fit (:mod:`hepc9.fit.minimise`)
and the set likelihood of the learned-ratio estimator (:mod:`hepc9.models.ratio_fit`), build
their :class:`iminuit.Minuit` object, run MIGRAD and HESSE (:func:`migrad_hesse`), run MINOS
(:func:`run_minos`) and read the validity of the minimum (:func:`minimum_problems`) here.
iminuit is imported when a fit runs, not when this module is imported.

The FCN is called with the parameter vector (array call); ``errordef`` is the FCN's attribute
unless given (0.5 for −ln L).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MinosResult", "migrad_hesse", "minimum_problems", "run_minos"]

log = logging.getLogger(__name__)

#: ``errordef`` of a negative log-likelihood (ΔlnL = ½ for one standard deviation).
LIKELIHOOD = 0.5

__all__ += ["LIKELIHOOD"]


def migrad_hesse(
    fcn: Callable[..., float],
    start: Sequence[float],
    *,
    names: Sequence[str],
    grad: Any = None,
    hessian: Any = None,
    g2: Any = None,
    retry_g2: Callable[[Any], Any] | None = None,
    errordef: float | None = None,
    steps: Mapping[str, float] | None = None,
    limits: Mapping[str, tuple[float, float]] | None = None,
    fixed: Sequence[str] = (),
    strategy: int | None = None,
    tolerance: float | None = None,
    ncall: int | None = None,
    hesse: Literal["if_valid", "always", "never"] = "if_valid",
) -> Any:
    """Build a :class:`iminuit.Minuit`, run MIGRAD and then HESSE; return the Minuit object.

    Parameters
    ----------
    fcn : callable
        ``fcn(x)`` with the parameter vector ``x``.
    start : sequence of float
        Start values, in the order of ``names``.
    names : sequence of str
        Parameter names.
    grad, hessian, g2 : callable, bool or None
        Passed to :class:`iminuit.Minuit` as they are (``None``: iminuit's default, which
        reads the FCN's attributes; ``False``: none).
    retry_g2 : callable, optional
        When MIGRAD raises ``TypeError`` (iminuit 2.33 fails inside Minuit2 with "'NoneType'
        object is not callable" when a seed with an analytic Hessian meets negative curvature
        or a call limit), rebuild with ``hessian=False, g2=retry_g2`` and run MIGRAD again;
        without it the error propagates.
    errordef : float, optional
        ``errordef`` (default: the FCN's attribute, else iminuit's 1).
    steps : mapping of str to float, optional
        Initial step sizes (``Minuit.errors``) per parameter.
    limits : mapping of str to (float, float), optional
        Parameter limits.
    fixed : sequence of str
        Parameters held fixed.
    strategy : int, optional
        Minuit strategy (default iminuit's, 1).
    tolerance : float, optional
        EDM tolerance factor (default iminuit's, 0.1).
    ncall : int, optional
        Call limit of MIGRAD.
    hesse : {"if_valid", "always", "never"}
        When to run HESSE after MIGRAD.

    Returns
    -------
    iminuit.Minuit
    """
    from iminuit import Minuit

    def build(hessian_: Any, g2_: Any) -> Any:
        m = Minuit(fcn, list(start), grad=grad, hessian=hessian_, g2=g2_, name=list(names))
        if errordef is not None:
            m.errordef = float(errordef)
        if strategy is not None:
            m.strategy = int(strategy)
        if tolerance is not None:
            m.tol = float(tolerance)
        m.print_level = 0
        for name, lim in (limits or {}).items():
            m.limits[name] = lim  # limits before steps, as both fits always did
        for name, step in (steps or {}).items():
            m.errors[name] = float(step)
        for name in fixed:
            m.fixed[name] = True
        return m

    m = build(hessian, g2)
    try:
        m.migrad(ncall=ncall)
    except TypeError:
        if retry_g2 is None:
            raise
        log.debug("MIGRAD with the analytic Hessian failed in Minuit2; retrying with g2")
        m = build(False, retry_g2)
        m.migrad(ncall=ncall)
    if hesse == "always" or (hesse == "if_valid" and m.valid):
        m.hesse()
    return m


def minimum_problems(m: Any) -> list[str]:
    """Return why the minimum of ``m`` is not valid (empty when MIGRAD and HESSE succeeded).

    Parameters
    ----------
    m : iminuit.Minuit
        After :func:`migrad_hesse`.

    Returns
    -------
    list of str
        ``MIGRAD did not converge (…)`` with the call-limit, EDM and at-limit causes, or
        ``HESSE covariance not accurate``.
    """
    fmin = m.fmin
    if not fmin.is_valid:
        why = []
        if fmin.has_reached_call_limit:
            why.append("call limit reached")
        if fmin.is_above_max_edm:
            why.append(f"EDM {fmin.edm:.3g} above tolerance")
        if fmin.has_parameters_at_limit:
            why.append("parameter at limit")
        return ["MIGRAD did not converge" + (f" ({', '.join(why)})" if why else "")]
    if not fmin.has_accurate_covar or fmin.has_made_posdef_covar:
        return ["HESSE covariance not accurate"]
    return []


@dataclass(frozen=True)
class MinosResult:
    """MINOS errors of some parameters.

    Attributes
    ----------
    intervals : dict of str to (float, float)
        ``(lower, upper)`` errors (lower ≤ 0 ≤ upper) of each parameter MINOS ran for.
    valid : dict of str to bool
        Whether each MINOS error is valid.
    failed : str or None
        The message of the error iminuit raised (e.g. MINOS refused on an invalid minimum);
        with ``each=False`` nothing is reported then.
    """

    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    valid: dict[str, bool] = field(default_factory=dict)
    failed: str | None = None

    def invalid(self) -> list[str]:
        """Return the parameters whose MINOS error is not valid."""
        return [k for k, ok in self.valid.items() if not ok]


def run_minos(m: Any, parameters: Sequence[str], *, each: bool = False) -> MinosResult:
    """Run MINOS and collect the errors of ``parameters``.

    Parameters
    ----------
    m : iminuit.Minuit
        After :func:`migrad_hesse`.
    parameters : sequence of str
        Parameters to report.
    each : bool
        ``False``: one ``m.minos()`` call for every free parameter (one failure loses all);
        ``True``: one ``m.minos(p)`` per reported parameter (a failure loses only that one;
        ``failed`` keeps the last message).

    Returns
    -------
    MinosResult
    """
    out = MinosResult()
    if not each:
        try:
            m.minos()
        except RuntimeError as err:  # iminuit refuses MINOS on an invalid minimum
            return MinosResult(failed=str(err))
    failed = None
    for name in parameters:
        if each:
            try:
                m.minos(name)
            except RuntimeError as err:
                failed = str(err)
                continue
        me = m.merrors[name]
        out.intervals[name] = (float(me.lower), float(me.upper))
        out.valid[name] = bool(me.is_valid)
    return MinosResult(out.intervals, out.valid, failed)
