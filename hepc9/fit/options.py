"""Options of one unbinned fit, declared once: :class:`FitOptions`.

Every entry point of the fit takes the same options object (or keywords that build it):
:func:`~hepc9.fit.driver.fit_events`, :meth:`~hepc9.fit.driver.LikelihoodFit.from_events`,
:class:`~hepc9.fit.driver.LikelihoodFit` itself, :meth:`~hepc9.fit.driver.LikelihoodFit.fit`
(minimiser fields only) and the ``hepc9 fit`` backend :func:`hepc9.pipeline.fit.fit_file`,
which fills it from ``[fit]`` of the configuration and the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hepc9.errors import DataError, did_you_mean
from hepc9.fit.inputs import check_free, resolve_q2_range
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, ModelConstants, WilsonShifts

__all__ = ["MINIMISER_FIELDS", "FitOptions"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FitOptions:
    """Every option of one unbinned fit.

    Attributes
    ----------
    free : tuple of str
        Free shifts (a sequence or a comma-separated string is accepted; stored in the canonical
        order of ``SHIFT_NAMES``).  Default δC9 alone.
    fixed : WilsonShifts
        Values of the other shifts (a mapping is accepted; default all 0); entries for free
        shifts are ignored.
    q2_range : (float, float) or None
        Fit window in GeV² (``None``: the full kinematic range); checked by
        :func:`~hepc9.fit.inputs.resolve_q2_range` when the fit is built.
    constants : ModelConstants
        Model constants of the fit model.
    acceptance : AcceptanceSample or None
        Simulation sample for the efficiency-corrected normalisation.
    background : BackgroundTemplate or None
        Background template (fitted with the same acceptance, if any).
    background_fraction : float or None
        Start value (free fraction) or fixed value of the background fraction f (default 0.1
        with a background, 0 without).
    fraction_error : float or None
        σ of a Gaussian constraint on f around ``background_fraction``.
    fix_fraction : bool
        Keep f fixed at ``background_fraction``.
    outside : {"raise", "drop"}
        What to do with events outside the q² window.
    use_mkpi : bool
        Use the per-event m(Kπ) in the model (exact physics path).
    min_events : int
        Smallest accepted sample.
    minos : bool
        Also compute MINOS intervals for every free shift.
    strategy : int
        Minuit strategy (0, 1, 2).
    start : mapping of str to float or None
        Start values (default 0 for shifts, ``background_fraction`` for ``f_bkg``).  The
        shape-only likelihood tends to a constant as |θ| → ∞, so it can have a far secondary
        minimum; start near the Standard Model (the default) or scan.
    max_calls : int or None
        Call limit of MIGRAD (``None``: Minuit's default, and Newton steps with the analytic
        Hessian first).
    tolerance : float
        Minuit EDM tolerance factor.
    efficiency_error : {"linear", "bootstrap", "none"}
        How :func:`~hepc9.fit.driver.fit_events` propagates the acceptance-sample statistics
        into the efficiency error component (:mod:`hepc9.fit.uncertainty`): the delta method
        from the sample covariance (default), a Poisson bootstrap of ``efficiency_replicas``
        Newton refits, or not at all.
    efficiency_replicas : int
        Poisson-bootstrap replicas with ``efficiency_error="bootstrap"`` (0: not propagated).
    error_seed : int
        Master seed of that bootstrap.
    """

    free: tuple[str, ...] = ("dc9",)
    fixed: WilsonShifts = ZERO_SHIFTS
    q2_range: tuple[float, float] | None = None
    constants: ModelConstants = SEED_MODEL
    acceptance: Any = None
    background: Any = None
    background_fraction: float | None = None
    fraction_error: float | None = None
    fix_fraction: bool = False
    outside: Literal["raise", "drop"] = "raise"
    use_mkpi: bool = False
    min_events: int = 10
    minos: bool = False
    strategy: int = 1
    start: Mapping[str, float] | None = None
    max_calls: int | None = None
    tolerance: float = 0.1
    efficiency_error: Literal["linear", "bootstrap", "none"] = "linear"
    efficiency_replicas: int = 20
    error_seed: int = 0

    def __post_init__(self) -> None:
        """Normalise ``free``, ``fixed``, ``q2_range`` and ``start``; check ``outside``."""
        free: Sequence[str] | str = self.free
        object.__setattr__(self, "free", check_free(free))
        fixed: Any = self.fixed
        if fixed is None:
            fixed = ZERO_SHIFTS
        elif not isinstance(fixed, WilsonShifts):
            fixed = WilsonShifts.from_mapping(dict(fixed))
        object.__setattr__(self, "fixed", fixed)
        if self.q2_range is not None:
            object.__setattr__(self, "q2_range", tuple(self.q2_range))
        if self.start is not None:
            object.__setattr__(self, "start", dict(self.start))
        if self.outside not in ("raise", "drop"):
            raise DataError(f"outside = {self.outside!r} must be 'raise' or 'drop'")
        if self.efficiency_error not in ("linear", "bootstrap", "none"):
            raise DataError(
                f"efficiency_error = {self.efficiency_error!r} must be 'linear', 'bootstrap' "
                "or 'none'"
            )

    @classmethod
    def build(cls, options: FitOptions | None = None, /, **overrides: Any) -> FitOptions:
        """Return ``options`` (default: all defaults) with the keyword ``overrides`` applied.

        Parameters
        ----------
        options : FitOptions, optional
            Base options.
        **overrides
            Any field of :class:`FitOptions`.

        Returns
        -------
        FitOptions

        Raises
        ------
        TypeError
            An override that is not a field (with the closest field name).
        """
        base = cls() if options is None else options
        if not isinstance(base, FitOptions):
            raise TypeError(f"options must be a FitOptions, got {type(base).__name__}")
        return base.replace(**overrides) if overrides else base

    def replace(self, **changes: Any) -> FitOptions:
        """Return a copy with some fields changed (unknown names raise :class:`TypeError`)."""
        names = [f.name for f in dataclasses.fields(self)]
        for key in changes:
            if key not in names:
                hint = did_you_mean(key, names)
                raise TypeError(f"unknown fit option '{key}'{hint} (valid: {', '.join(names)})")
        return dataclasses.replace(self, **changes)

    def window(self) -> tuple[float, float]:
        """Return the checked fit window (:func:`~hepc9.fit.inputs.resolve_q2_range`)."""
        return resolve_q2_range(self.q2_range, self.constants)

    def expansion_point(self) -> WilsonShifts:
        """Return the expansion point: ``fixed`` with the free shifts set to 0."""
        return self.fixed.with_(**dict.fromkeys(self.free, 0.0))


#: Fields of :class:`FitOptions` that only steer the minimiser (accepted by ``LikelihoodFit.fit``).
MINIMISER_FIELDS: tuple[str, ...] = ("minos", "strategy", "start", "max_calls", "tolerance")
