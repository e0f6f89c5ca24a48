"""Efficiency-corrected normalisation from a reconstructed simulation sample.

With an acceptance ε(x) the signal density of a reconstructed event is ε(x) rate(x; θ) / Γ_ε(θ),
Γ_ε(θ) = ∫ ε(x) rate(x; θ) dx = θ̃ᵀ 𝕄_ε θ̃ (physics.md §6.1).  Only 𝕄_ε depends on the
acceptance (ε(x_e) is a constant factor of the likelihood when there is no background).

**Estimator.**  A simulation sample generated with the density p_gen(x) and passed through the
detector and selection gives, for any function h,

    ∫ ε(x) h(x) dx  ≈  (1 / N_gen) Σ_{i accepted} h(x_i) / p_gen(x_i^true),

so with the weights w_i ∝ 1 / p_gen(x_i^true) (normalised to Σ w_i = 1 here; the constant
cancels in every ratio the fit uses)

    𝕄_ε ≈ Σ_i w_i M(x_i).

p_gen is the generator density of the sample (``density``, :mod:`hepc9.generate.density`):
``"rate"`` (p_gen ∝ rate(x; θ_gen), the weights of a physics sample), ``"flat_angles"`` (p_gen ∝
dΓ/dq²(q²; θ_gen), flat in the angles) or ``"mixture"`` (the average of the two).  The flat
proposals leave only the q² dependence in the weights, so their Kish effective size
(:attr:`AcceptanceSample.effective_size`) is larger for the same number of events.

The weights use the *true* kinematics (columns ``<name>_true``, when present) because that is
where the generator density is known.  ``evaluate`` chooses where M is evaluated:

* ``"reco"`` (default): at the reconstructed values, i.e. the acceptance folded with the
  resolution, ε̃(y) = ∫ K(y|x) ε(x) dx; the fit model is then ε̃(y) rate(y; θ), the usual
  approximation that neglects only the θ dependence of the resolution migration;
* ``"true"``: at the true values, i.e. the resolution is ignored entirely (the model is ε(x)
  rate(x; θ) evaluated at reconstructed data); use it to measure the size of resolution effects.

The Monte Carlo error of Γ_ε(θ) is estimated from the weight spread,
δΓ/Γ = √(Σ (w_i r_i)²) / Σ w_i r_i with r_i = rate(x_i; θ)
(:meth:`AcceptanceSample.relative_error`);
keep it well below the statistical error of the data (simulation samples ≳ 10× the data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hepc9.errors import DataError
from hepc9.fit.inputs import event_coefficients, resolve_q2_range
from hepc9.fit.packed import monomials
from hepc9.generate.density import check_density, proposal_density
from hepc9.physics.constants import SEED_MODEL, ModelConstants, WilsonShifts

__all__ = ["AcceptanceSample", "acceptance_sample"]

_COLS = ("q2", "costheta_l", "costheta_k", "chi")


@dataclass(frozen=True, eq=False)
class AcceptanceSample:
    """Accepted simulation events with their generator weights.

    Attributes
    ----------
    points : dict of str to ndarray
        ``q2 costheta_l costheta_k chi`` (and ``mkpi``) where M is evaluated, shape (n,).
    weights : ndarray, shape (n,)
        w_i ∝ 1/p_gen(x_i^true), Σ w_i = 1.
    q2_range : (float, float)
        The fit window the sample was selected in, GeV².
    generated_at : WilsonShifts
        Shifts the simulation was generated with.
    evaluate : {"reco", "true"}
    use_mkpi : bool
    n_input : int
        Rows of the simulation sample before the selection.
    density : str
        Generator density p_gen of the sample (:data:`hepc9.generate.density.DENSITIES`).
    """

    points: dict[str, np.ndarray]
    weights: np.ndarray
    q2_range: tuple[float, float]
    generated_at: WilsonShifts
    evaluate: str = "reco"
    use_mkpi: bool = False
    n_input: int = 0
    density: str = "rate"
    _cache: dict[Any, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_events(self) -> int:
        """Number of accepted simulation events used."""
        return int(self.weights.size)

    @property
    def effective_size(self) -> float:
        """Kish effective sample size (Σw)²/Σw² of the weights."""
        return float(self.weights.sum() ** 2 / np.sum(self.weights**2))

    def check_window(self, q2_range: Sequence[float]) -> None:
        """Raise :class:`DataError` unless the sample was selected in ``q2_range``."""
        lo, hi = self.q2_range
        if not (
            math.isclose(lo, q2_range[0], abs_tol=1e-9)
            and math.isclose(hi, q2_range[1], abs_tol=1e-9)
        ):
            raise DataError(
                f"the acceptance sample was selected in q² [{lo:.6g}, {hi:.6g}] GeV² but the fit "
                f"window is [{q2_range[0]:.6g}, {q2_range[1]:.6g}]; build it with the same q2_range"
            )

    def coefficients(
        self,
        *,
        params: Sequence[str],
        at: WilsonShifts,
        constants: ModelConstants = SEED_MODEL,
    ) -> np.ndarray:
        """Return the packed quadratic forms at the sample points, shape (n, P) (cached)."""
        key = (tuple(params), at, constants)
        if key not in self._cache:
            self._cache[key] = event_coefficients(
                self.points,
                params=params,
                at=at,
                constants=constants,
                use_mkpi=self.use_mkpi,
                q2_range=self.q2_range,
            )
        return self._cache[key]

    def normalisation(
        self,
        *,
        params: Sequence[str],
        at: WilsonShifts,
        constants: ModelConstants = SEED_MODEL,
    ) -> np.ndarray:
        """Return the packed 𝕄_ε = Σ w_i M(x_i), shape (P,)."""
        return self.weights @ self.coefficients(params=params, at=at, constants=constants)

    def integrate(self, values: np.ndarray) -> float:
        """Return Σ w_i h(x_i) ≈ ∫ ε h dx (up to the common constant) for h at the points."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != self.weights.shape:
            raise DataError(f"values must have shape {self.weights.shape}, got {v.shape}")
        return float(self.weights @ v)

    def relative_error(
        self,
        theta: Sequence[float],
        *,
        params: Sequence[str],
        at: WilsonShifts,
        constants: ModelConstants = SEED_MODEL,
    ) -> float:
        """Return the relative Monte Carlo error of Γ_ε at the shifts ``at + θ``."""
        r = self.coefficients(params=params, at=at, constants=constants) @ monomials(
            np.asarray(theta)
        )
        wr = self.weights * r
        return float(math.sqrt(np.sum(wr**2)) / np.sum(wr))


def acceptance_sample(
    sim_events: Mapping[str, np.ndarray],
    *,
    generated_at: WilsonShifts | Mapping[str, float],
    q2_range: Sequence[float] | None = None,
    constants: ModelConstants = SEED_MODEL,
    evaluate: Literal["reco", "true"] = "reco",
    use_mkpi: bool = False,
    min_events: int = 100,
    density: str = "rate",
) -> AcceptanceSample:
    """Build the acceptance sample from reconstructed simulation events.

    Parameters
    ----------
    sim_events : mapping of str to ndarray
        Reconstructed (or generator-level, acceptance-cut) events: ``q2 costheta_l costheta_k
        chi`` and, when present, the truth copies ``<name>_true`` and ``is_signal`` (only
        ``is_signal == 1`` rows are used).
    generated_at : WilsonShifts or mapping
        Wilson-coefficient point of the simulation (e.g. from the file metadata).
    q2_range : (float, float), optional
        Fit window in GeV² (default full range); the sample is selected in it.
    constants : ModelConstants
        Model of the simulation (and of the fit).
    evaluate : {"reco", "true"}
        Evaluate M at reconstructed or at true values (see the module docstring).
    use_mkpi : bool
        Use the per-event m(Kπ) in the model.
    min_events : int
        Smallest number of accepted events.
    density : {"rate", "flat_angles", "mixture"}
        Generator density of the simulation (file metadata key ``density``; ``"rate"`` when
        absent); the weights are 1/density at the true kinematics.

    Returns
    -------
    AcceptanceSample
    """
    if evaluate not in ("reco", "true"):
        raise DataError(f"evaluate = {evaluate!r} must be 'reco' or 'true'")
    density = check_density(density, what="efficiency sample density")
    gen = (
        generated_at
        if isinstance(generated_at, WilsonShifts)
        else WilsonShifts.from_mapping(generated_at)
    )
    window = resolve_q2_range(q2_range, constants)
    cols = (*_COLS, "mkpi") if use_mkpi else _COLS
    missing = [c for c in cols if c not in sim_events]
    if missing:
        raise DataError(f"simulation sample lacks the column(s) {', '.join(missing)}")
    n_input = int(np.asarray(sim_events["q2"]).size)
    if n_input == 0:
        raise DataError("simulation sample for the acceptance is empty")
    has_true = all(f"{c}_true" in sim_events for c in cols)
    reco = {c: np.asarray(sim_events[c], dtype=np.float64).ravel() for c in cols}
    true = (
        {c: np.asarray(sim_events[f"{c}_true"], dtype=np.float64).ravel() for c in cols}
        if has_true
        else reco
    )
    keep = np.ones(n_input, dtype=bool)
    if "is_signal" in sim_events:
        keep &= np.asarray(sim_events["is_signal"]).ravel() == 1
    where = true if evaluate == "true" else reco
    for c in cols:
        keep &= np.isfinite(reco[c]) & np.isfinite(true[c])
    keep &= (where["q2"] >= window[0]) & (where["q2"] <= window[1])
    if int(keep.sum()) < min_events:
        raise DataError(
            f"only {int(keep.sum())} of {n_input} simulation events are usable in q² "
            f"[{window[0]:.4g}, {window[1]:.4g}] GeV²; at least {min_events} are needed"
        )
    t = {c: v[keep] for c, v in true.items()}
    rate_gen = proposal_density(
        t["q2"],
        t["costheta_l"],
        t["costheta_k"],
        t["chi"],
        density=density,
        shifts=gen,
        constants=constants,
        mkpi=t["mkpi"] if use_mkpi else None,
    )
    rate_gen = np.asarray(rate_gen, dtype=np.float64)
    good = rate_gen > 0.0
    if not good.all():
        # a true point with zero generator density cannot have been generated there
        raise DataError(
            f"{int((~good).sum())} simulation events have zero generator density at their true "
            f"kinematics; is generated_at ({gen}) the point the sample was generated with?"
        )
    w = 1.0 / rate_gen
    w /= w.sum()
    points = {c: v[keep] for c, v in where.items()}
    return AcceptanceSample(
        points=points,
        weights=w,
        q2_range=window,
        generated_at=gen,
        evaluate=evaluate,
        use_mkpi=use_mkpi,
        n_input=n_input,
        density=density,
    )
