"""The unbinned fit driver: :class:`LikelihoodFit` and the one-call :func:`fit_events`.

:meth:`LikelihoodFit.from_events` checks the events (:mod:`hepc9.fit.inputs`), reduces them to
packed quadratic forms and builds the normalisation (model integral or acceptance sample); the
fit then runs Newton steps, MIGRAD, HESSE and optionally MINOS (:mod:`hepc9.fit.minimise`) on
the FCN :class:`~hepc9.fit.nll.UnbinnedNLL`.  All options travel in one
:class:`~hepc9.fit.options.FitOptions`; keyword arguments build it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepc9.errors import DataError, Hepc9Warning
from hepc9.fit.inputs import event_coefficients, model_normalisation, select_window
from hepc9.fit.minimise import collect_result, newton_steps, run_migrad, scan_nll
from hepc9.fit.nll import BACKGROUND_FRACTION, UnbinnedNLL
from hepc9.fit.options import MINIMISER_FIELDS, FitOptions
from hepc9.fit.results import FitResult, ScanResult
from hepc9.fit.uncertainty import with_error_components
from hepc9.physics.constants import WilsonShifts

__all__ = ["LikelihoodFit", "fit_events"]


class LikelihoodFit:
    """An unbinned fit ready to minimise: events reduced to packed quadratic forms.

    Build it with :meth:`from_events` (checks and precomputes) or directly from packed
    coefficients (e.g. inside toy loops).

    Parameters
    ----------
    coefficients : ndarray, shape (n, P)
        Packed per-event forms for the free shifts around ``at``.
    normalisation : ndarray, shape (P,)
        Packed 𝕄 in the same units as the coefficients.
    q2_range : (float, float)
        The (checked) fit window in GeV².
    at : WilsonShifts, optional
        Expansion point; its entries for free shifts must be 0 (the fit values are the shifts).
        Default: ``options.fixed`` with the free shifts set to 0.
    background : ndarray, shape (n,), optional
        Background density per event, relative to the normalisation (see
        :mod:`hepc9.fit.likelihood`).
    n_dropped : int
        Events dropped outside the window (reported in the result).
    normalisation_kind : str
        ``"model"`` or ``"acceptance"``.
    use_numba : bool
        Numba kernels (True) or their numpy twins.
    options : FitOptions, optional
        The fit options; the constructor uses ``free``, ``fixed``, ``background_fraction``,
        ``fraction_error``, ``fix_fraction``, ``min_events`` and the minimiser fields
        (the inputs ``q2_range``, ``constants``, ``acceptance``, ``background``, ``outside`` and
        ``use_mkpi`` are consumed by :meth:`from_events`).
    **overrides
        Fields of :class:`FitOptions` replacing those of ``options`` (e.g. ``free=("dc9",)``).
    """

    def __init__(
        self,
        coefficients: np.ndarray,
        normalisation: np.ndarray,
        *,
        q2_range: tuple[float, float],
        at: WilsonShifts | None = None,
        background: np.ndarray | None = None,
        n_dropped: int = 0,
        normalisation_kind: str = "model",
        use_numba: bool = True,
        options: FitOptions | None = None,
        **overrides: Any,
    ) -> None:
        opts = FitOptions.build(options, **overrides)
        self.options = opts
        self.free = opts.free
        if at is None:
            at = opts.expansion_point()
        if any(getattr(at, n) != 0.0 for n in self.free):
            raise DataError(f"the expansion point must have zero free shifts {self.free}, got {at}")
        self.at = at
        self.q2_range = (float(q2_range[0]), float(q2_range[1]))
        min_events = opts.min_events
        n = int(np.asarray(coefficients).shape[0])
        if n < max(int(min_events), 1):
            raise DataError(
                f"only {n} events in the fit window; at least {min_events} are needed "
                f"(min_events) for a fit of {len(self.free)} parameter(s)"
            )
        fit_fraction = False
        frac = 0.0
        constraint = None
        background_fraction = opts.background_fraction
        fraction_error = opts.fraction_error
        if background is not None:
            frac = 0.1 if background_fraction is None else float(background_fraction)
            if not 0.0 <= frac < 1.0:
                raise DataError(f"background fraction {frac} must be in [0, 1)")
            fit_fraction = not opts.fix_fraction
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
        #: The fitted events in the window (set by :meth:`from_events`).
        self.window_events: Mapping[str, np.ndarray] | None = None

    @classmethod
    def from_events(
        cls,
        events: Mapping[str, np.ndarray],
        *,
        options: FitOptions | None = None,
        **overrides: Any,
    ) -> LikelihoodFit:
        """Check the events, precompute their quadratic forms and the normalisation.

        Parameters
        ----------
        events : mapping of str to ndarray
            Native columns ``q2 costheta_l costheta_k chi`` (``mkpi`` with ``use_mkpi``).
        options : FitOptions, optional
            All options (default: δC9 alone, full q² range, no acceptance or background).
        **overrides
            Fields of :class:`FitOptions` (``free``, ``fixed``, ``q2_range``, ``constants``,
            ``acceptance``, ``background``, ``background_fraction``, ``fraction_error``,
            ``fix_fraction``, ``outside``, ``use_mkpi``, ``min_events``, minimiser fields).

        Returns
        -------
        LikelihoodFit
        """
        opts = FitOptions.build(options, **overrides)
        names = opts.free
        constants = opts.constants
        at = opts.expansion_point()
        window = opts.window()
        extra = ("mkpi",) if opts.use_mkpi else ()
        ev, n_drop = select_window(events, window, outside=opts.outside, extra_columns=extra)
        if "weight" in events and np.any(np.asarray(events["weight"]) != 1.0):
            warnings.warn(
                "the events carry per-entry weights; the unbinned fit ignores them (every "
                "event counts once)",
                Hepc9Warning,
                stacklevel=2,
            )
        if ev["q2"].size < opts.min_events:
            raise DataError(
                f"only {ev['q2'].size} events in the fit window [{window[0]:.4g}, {window[1]:.4g}]"
                f" GeV²; at least {opts.min_events} are needed (min_events)"
            )
        coeffs = event_coefficients(
            ev, params=names, at=at, constants=constants, use_mkpi=opts.use_mkpi, q2_range=window
        )
        acceptance = opts.acceptance
        if acceptance is not None:
            acceptance.check_window(window)
            norm = acceptance.normalisation(params=names, at=at, constants=constants)
            kind = "acceptance"
        else:
            norm = model_normalisation(params=names, at=at, constants=constants, q2_range=window)
            kind = "model"
        bkg = None
        if opts.background is not None:
            bkg = opts.background.density_for_fit(ev, acceptance=acceptance)
        lf = cls(
            coeffs,
            norm,
            q2_range=window,
            at=at,
            background=bkg,
            n_dropped=n_drop,
            normalisation_kind=kind,
            options=opts,
        )
        lf.window_events = ev
        return lf

    @classmethod
    def from_coefficients(
        cls, coefficients: np.ndarray, normalisation: np.ndarray, **kwargs: Any
    ) -> LikelihoodFit:
        """Build a fit from packed coefficients (see the class parameters)."""
        return cls(coefficients, normalisation, **kwargs)

    @property
    def result(self) -> FitResult | None:
        """The result of the last :meth:`fit` (``None`` before the first)."""
        return self._result

    # -- minimisation -----------------------------------------------------------------------

    def _minimiser_options(self, overrides: Mapping[str, Any]) -> FitOptions:
        bad = [k for k in overrides if k not in MINIMISER_FIELDS]
        if bad:
            raise TypeError(
                f"fit() takes only the minimiser options {', '.join(MINIMISER_FIELDS)}, got "
                f"{', '.join(bad)}; set the others when building the LikelihoodFit"
            )
        return self.options.replace(**overrides) if overrides else self.options

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

    def migrad(self, **overrides: Any) -> Any:
        """Run Newton steps, MIGRAD and HESSE; return the :class:`iminuit.Minuit` object.

        Parameters
        ----------
        **overrides
            Minimiser fields of :class:`FitOptions` (``start``, ``strategy``, ``max_calls``,
            ``tolerance``; ``minos`` is ignored here); default ``self.options``.

        Returns
        -------
        iminuit.Minuit
        """
        opts = self._minimiser_options(overrides)
        x0 = self._start(opts.start)
        if opts.max_calls is None:
            x0 = newton_steps(self.nll, x0)
        m = run_migrad(
            self.nll, x0, strategy=opts.strategy, max_calls=opts.max_calls,
            tolerance=opts.tolerance,
        )  # fmt: skip
        self._minuit = m
        return m

    def fit(self, **overrides: Any) -> FitResult:
        """Minimise −ln L: Newton steps, MIGRAD, HESSE and optionally MINOS.

        Parameters
        ----------
        **overrides
            Minimiser fields of :class:`FitOptions` for this call: ``start``, ``minos``,
            ``strategy``, ``max_calls``, ``tolerance`` (default ``self.options``).

        Returns
        -------
        FitResult
            ``valid=False`` and a :class:`~hepc9.errors.FitNotConvergedWarning` when MIGRAD,
            HESSE or MINOS failed; the numbers are then those of the last point reached.
        """
        opts = self._minimiser_options(overrides)
        m = self.migrad(
            start=opts.start, strategy=opts.strategy, max_calls=opts.max_calls,
            tolerance=opts.tolerance,
        )  # fmt: skip
        result = collect_result(
            m,
            self.nll,
            minos=opts.minos,
            at=self.at,
            q2_range=self.q2_range,
            n_dropped=self.n_dropped,
            normalisation_kind=self.normalisation_kind,
        )
        self._result = result
        return result

    def scan(
        self,
        parameter: str,
        values: Sequence[float] | np.ndarray,
        *,
        profile: bool = True,
        best: FitResult | None = None,
    ) -> ScanResult:
        """Scan −ln L in one parameter, relative to a best fit.

        The scan needs a best fit: run :meth:`fit` first (its result is used) or pass ``best``.
        No fit is run implicitly.

        Parameters
        ----------
        parameter : str
            A free parameter (a shift or ``f_bkg``).
        values : array_like, shape (m,)
            Points to evaluate.
        profile : bool
            Minimise over the other parameters at each point (profile likelihood); otherwise
            keep them at their best-fit values.
        best : FitResult, optional
            Best fit of this likelihood to scan around (default: the last :meth:`fit`).

        Returns
        -------
        ScanResult

        Raises
        ------
        DataError
            Unknown parameter, empty or non-finite values, or no best fit yet.
        """
        names = self.nll.names
        if parameter not in names:
            raise DataError(f"cannot scan '{parameter}': free parameters are {', '.join(names)}")
        grid = np.asarray(values, dtype=np.float64).ravel()
        if grid.size == 0 or not np.all(np.isfinite(grid)):
            raise DataError("scan values must be a non-empty array of finite numbers")
        if best is None:
            best = self._result
        if best is None:
            raise DataError(
                "no best fit to scan around: call fit() before scan(), or pass best=FitResult"
            )
        if tuple(best.parameters) != tuple(names):
            raise DataError(
                f"best has the parameters {', '.join(best.parameters)}, this fit {', '.join(names)}"
            )
        return scan_nll(self.nll, best, parameter, grid, profile=profile)


def fit_events(
    events: Mapping[str, np.ndarray],
    *,
    options: FitOptions | None = None,
    scan: tuple[str, Sequence[float]] | None = None,
    **overrides: Any,
) -> FitResult:
    """Fit Wilson-coefficient shifts to events (see :meth:`LikelihoodFit.from_events`).

    Parameters
    ----------
    events : mapping of str to ndarray
        Native event columns, shape (n,) each.
    options : FitOptions, optional
        All options of the fit.
    scan : (str, sequence of float), optional
        Parameter and values of a likelihood profile (:meth:`LikelihoodFit.scan`) stored in
        the result.
    **overrides
        Fields of :class:`FitOptions` replacing those of ``options`` (``free``, ``fixed``,
        ``q2_range``, ``constants``, ``acceptance``, ``background``, ``background_fraction``,
        ``fraction_error``, ``fix_fraction``, ``outside``, ``use_mkpi``, ``min_events``,
        ``minos``, ``strategy``, ``start``, ``max_calls``, ``tolerance``).

    Returns
    -------
    FitResult
        With a background template or an acceptance sample, ``errors`` are the total errors
        and ``error_components`` holds the statistical, template and efficiency parts
        (:func:`~hepc9.fit.uncertainty.error_components`); ``covariance`` and MINOS stay
        statistical.
    """
    opts = FitOptions.build(options, **overrides)
    lf = LikelihoodFit.from_events(events, options=opts)
    result = lf.fit()
    if opts.background is not None or opts.acceptance is not None:
        result = with_error_components(lf, result, opts)
    if scan is not None:
        profile = lf.scan(scan[0], scan[1], profile=True, best=result)
        result = dataclasses.replace(result, scan=profile.to_dict())
    return result
