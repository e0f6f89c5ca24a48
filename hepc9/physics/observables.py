"""Angular observables: binned predictions, A_FB zero crossing, method of moments (physics.md §7).

Definitions (LHCb convention, §7.1; flavio style, exact with the muon mass):

    F_L = −J2c / Γ,   A_FB = ⅜ (2 J6s + J6c) / Γ,   S_i = J_i / Γ,   P5′ = J5 / (2 √(−J2s J2c))

with Γ = ¾(2J1s + J1c) − ¼(2J2s + J2c).  P5′ uses flavio's form, which equals
S5 / √(F_L (1 − F_L)) for massless leptons and reproduces the tables of §7.3 with the muon
mass on.  Binned values are ratios of q²-integrated numerators and denominators.  For real
Wilson shifts the CP-conjugate J̄_i equal the J_i, so the CP average is the plain ratio.

:func:`moments` estimates the same binned ratios from events: with G_ij = ∫ f_i f_j dΩ, the mean
of f(Ω) over the events of a q² bin is (9/32π) G · (J/Γ)_bin exactly (muon mass included), so
(J/Γ)_bin = (32π/9) G⁻¹ ⟨f⟩ with errors from the sample covariance of f.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepc9.errors import DataError, ShapeError
from hepc9.physics.angular import J_INDEX, angular_coefficients, angular_functions
from hepc9.physics.constants import (
    SEED_MODEL,
    ZERO_SHIFTS,
    ModelConstants,
    WilsonShifts,
    q2_limits,
)
from hepc9.physics.rate import dgamma_dq2_from_j, q2_integral, resolve_q2_range

__all__ = [
    "MOMENT_OBSERVABLES",
    "STANDARD_BINS",
    "afb_zero_crossing",
    "angular_gram_matrix",
    "binned_observables",
    "moments",
    "observables_from_j",
]

#: q² bins of the tables of physics.md §7.2/§7.3, GeV².
STANDARD_BINS: tuple[tuple[float, float], ...] = (
    (1.1, 2.5),
    (2.5, 4.0),
    (4.0, 6.0),
    (1.1, 6.0),
    (15.0, 19.0),
)

#: Observables estimated by :func:`moments` (each also with an ``_err`` key).
MOMENT_OBSERVABLES: tuple[str, ...] = ("FL", "AFB", "S3", "S4", "S5", "S7", "S8", "S9", "P5p")

_S_NAMES = ("3", "4", "5", "7", "8", "9")


def _check_bins(bins: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    try:
        out = [(float(lo), float(hi)) for lo, hi in bins]
    except (TypeError, ValueError) as err:
        raise DataError(
            f"bins must be a sequence of (q2_min, q2_max) pairs in GeV², got {bins!r}"
        ) from err
    for lo, hi in out:
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise DataError(f"q² bin ({lo}, {hi}) must be finite with q2_min < q2_max")
    return out


def observables_from_j(j: np.ndarray) -> dict[str, Any]:
    """Return F_L, A_FB, S3…S9 and P5′ from (integrated) angular coefficients.

    Parameters
    ----------
    j : ndarray
        Shape (12, ...), LHCb convention, ordered as ``J_NAMES``.

    Returns
    -------
    dict
        ``dGamma`` (the denominator Γ) and ``FL AFB S3 S4 S5 S7 S8 S9 P5p``, arrays of shape
        ``j.shape[1:]`` (floats for 1-D input).
    """
    gamma = dgamma_dq2_from_j(j)
    out: dict[str, Any] = {
        "dGamma": gamma,
        "FL": -j[J_INDEX["2c"]] / gamma,
        "AFB": 0.375 * (2.0 * j[J_INDEX["6s"]] + j[J_INDEX["6c"]]) / gamma,
    }
    for name in _S_NAMES:
        out["S" + name] = j[J_INDEX[name]] / gamma
    out["P5p"] = j[J_INDEX["5"]] / (2.0 * np.sqrt(-j[J_INDEX["2s"]] * j[J_INDEX["2c"]]))
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}


def binned_observables(
    bins: Sequence[Sequence[float]] = STANDARD_BINS,
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
) -> list[dict[str, float]]:
    """Return q²-binned predictions (physics.md §7.1, §7.3).

    Parameters
    ----------
    bins : sequence of (float, float), optional
        q² bins in GeV² (default :data:`STANDARD_BINS`); integrals are clipped to the
        kinematic range.
    shifts : WilsonShifts, optional
        New-physics point.
    constants : ModelConstants, optional
        Model constants.

    Returns
    -------
    list of dict
        One dict per bin with ``q2_min q2_max`` (as given), ``dB_dq2`` (branching fraction in
        the bin divided by the bin width, GeV⁻²), ``B`` (branching fraction in the bin) and
        ``FL AFB S3 S4 S5 S7 S8 S9 P5p``.
    """
    out = []
    for lo, hi in _check_bins(bins):
        lo_c, hi_c = resolve_q2_range((lo, hi), constants)
        j_int = q2_integral(
            lambda q: angular_coefficients(q, shifts=shifts, constants=constants).T,
            q2_range=(lo_c, hi_c),
            constants=constants,
        )
        obs = observables_from_j(j_int)
        branching = obs.pop("dGamma") * constants.hbar_tau
        row = {"q2_min": lo, "q2_max": hi, "dB_dq2": branching / (hi - lo), "B": branching}
        row.update(obs)
        out.append(row)
    return out


def afb_zero_crossing(
    *,
    shifts: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
) -> float:
    """Return the q² where A_FB changes sign from negative to positive (physics.md §9).

    Parameters
    ----------
    shifts : WilsonShifts, optional
        New-physics point.
    constants : ModelConstants, optional
        Model constants.
    q2_range : (float, float), optional
        Search window in GeV² (default [0.5, q²_max]; the photon-pole region is skipped).

    Returns
    -------
    float
        q0² in GeV² (root of 2J6s + J6c, to 1e-10 GeV²).

    Raises
    ------
    DataError
        If A_FB has no negative-to-positive zero in the window.
    """
    from scipy.optimize import brentq

    if q2_range is None:
        q2_range = (0.5, q2_limits(constants)[1])
    lo, hi = resolve_q2_range(q2_range, constants)

    def numerator(q: np.ndarray | float) -> np.ndarray:
        j = angular_coefficients(q, shifts=shifts, constants=constants)
        return 2.0 * j[J_INDEX["6s"]] + j[J_INDEX["6c"]]

    grid = np.linspace(lo, hi, 801)[:-1]
    values = numerator(grid)
    idx = np.nonzero((values[:-1] < 0.0) & (values[1:] >= 0.0))[0]
    if idx.size == 0:
        raise DataError(
            f"A_FB has no negative-to-positive zero crossing in q² ∈ [{lo:.4g}, {hi:.4g}] GeV² "
            f"for shifts {shifts.to_dict()}"
        )
    i = int(idx[0])
    return float(
        brentq(lambda q: float(numerator(q)), grid[i], grid[i + 1], xtol=1e-12, rtol=1e-14)
    )


@functools.lru_cache(maxsize=1)
def angular_gram_matrix() -> np.ndarray:
    """Return G_ij = ∫ f_i f_j dcosθ_ℓ dcosθ_K dχ over the full angular range.

    Computed once with a product rule that is exact to rounding for these trigonometric
    polynomials: Gauss–Legendre in θ_ℓ and θ_K (weight sin θ) and the uniform rule in χ.

    Returns
    -------
    ndarray
        float64, shape (12, 12), ordered as ``J_NAMES`` (read-only).
    """
    x, w = np.polynomial.legendre.leggauss(48)
    theta = 0.5 * np.pi * (x + 1.0)
    w_theta = 0.5 * np.pi * w * np.sin(theta)
    n_phi = 16
    phi = 2.0 * np.pi * np.arange(n_phi) / n_phi
    w_phi = np.full(n_phi, 2.0 * np.pi / n_phi)
    tl, tk, ph = np.meshgrid(theta, theta, phi, indexing="ij")
    weights = (w_theta[:, None, None] * w_theta[None, :, None] * w_phi[None, None, :]).ravel()
    f = angular_functions(np.cos(tl).ravel(), np.cos(tk).ravel(), ph.ravel())
    gram = (f * weights) @ f.T
    gram = 0.5 * (gram + gram.T)
    gram.setflags(write=False)
    return gram


def _column(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ShapeError(f"{name} must be a 1-D array, got shape {arr.shape}")
    return arr


def _unit(name: str, value: float = 1.0) -> np.ndarray:
    v = np.zeros(12)
    v[J_INDEX[name]] = value
    return v


def _moment_row(
    f: np.ndarray, w: np.ndarray, gram_inv: np.ndarray, row: dict[str, float]
) -> dict[str, float]:
    sum_w = float(np.sum(w))
    mean = f @ w / sum_w
    resid = f - mean[:, None]
    cov_mean = (resid * w**2) @ resid.T / sum_w**2
    scale = 32.0 * np.pi / 9.0
    j_hat = scale * gram_inv @ mean
    cov_j = scale**2 * gram_inv @ cov_mean @ gram_inv.T
    grads = {"FL": _unit("2c", -1.0), "AFB": 0.375 * (2.0 * _unit("6s") + _unit("6c"))}
    for name in _S_NAMES:
        grads["S" + name] = _unit(name)
    for name, g in grads.items():
        row[name] = float(g @ j_hat)
        row[name + "_err"] = float(math.sqrt(max(g @ cov_j @ g, 0.0)))
    j2s, j2c, j5 = (float(j_hat[J_INDEX[k]]) for k in ("2s", "2c", "5"))
    u = -j2s * j2c
    if u > 0.0:
        p5 = j5 / (2.0 * math.sqrt(u))
        g = (
            _unit("5") / (2.0 * math.sqrt(u))
            + _unit("2s") * p5 * j2c / (2.0 * u)
            + _unit("2c") * p5 * j2s / (2.0 * u)
        )
        row["P5p"] = p5
        row["P5p_err"] = float(math.sqrt(max(g @ cov_j @ g, 0.0)))
    else:
        row["P5p"] = math.nan
        row["P5p_err"] = math.nan
    return row


def moments(
    q2: np.ndarray,
    costheta_l: np.ndarray,
    costheta_k: np.ndarray,
    chi: np.ndarray,
    *,
    bins: Sequence[Sequence[float]] = STANDARD_BINS,
    weights: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Estimate binned angular observables from events by the method of moments.

    Parameters
    ----------
    q2, costheta_l, costheta_k, chi : ndarray
        Event coordinates (GeV², -, -, rad), shape (n,), LHCb convention.
    bins : sequence of (float, float), optional
        q² bins in GeV² (default :data:`STANDARD_BINS`); an event enters every bin with
        q2_min ≤ q² < q2_max.
    weights : ndarray, optional
        Per-event weights, shape (n,), finite and non-negative.

    Returns
    -------
    list of dict
        Per bin: ``q2_min q2_max n sum_w`` and, for each name in :data:`MOMENT_OBSERVABLES`,
        the estimate and its standard error (``FL``, ``FL_err``, …).  Errors come from the
        sample covariance of the f_i propagated linearly; with weights the covariance of the
        mean is Σ w² (f − f̄)(f − f̄)ᵀ / (Σ w)².  Bins with fewer than two events give NaN.

    Raises
    ------
    ShapeError
        Columns (or weights) of different lengths or not 1-D.
    DataError
        Non-finite values or negative weights.
    """
    cols = {
        "q2": _column("q2", q2),
        "costheta_l": _column("costheta_l", costheta_l),
        "costheta_k": _column("costheta_k", costheta_k),
        "chi": _column("chi", chi),
    }
    if weights is not None:
        cols["weights"] = _column("weights", weights)
    lengths = {k: v.shape[0] for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ShapeError(f"event columns must have equal lengths, got {lengths}")
    for k, v in cols.items():
        if not np.all(np.isfinite(v)):
            raise DataError(f"column '{k}' contains non-finite values; drop or fix those events")
    w_all = cols.get("weights")
    if w_all is not None and np.any(w_all < 0.0):
        raise DataError("weights must be non-negative")
    gram_inv = np.linalg.inv(angular_gram_matrix())
    q = cols["q2"]
    out = []
    for lo, hi in _check_bins(bins):
        sel = (q >= lo) & (q < hi)
        n_sel = int(np.count_nonzero(sel))
        w = np.ones(n_sel) if w_all is None else w_all[sel]
        sum_w = float(np.sum(w))
        row: dict[str, float] = {"q2_min": lo, "q2_max": hi, "n": n_sel, "sum_w": sum_w}
        if n_sel < 2 or sum_w <= 0.0:
            for name in MOMENT_OBSERVABLES:
                row[name] = math.nan
                row[name + "_err"] = math.nan
        else:
            f = angular_functions(
                cols["costheta_l"][sel], cols["costheta_k"][sel], cols["chi"][sel]
            )
            _moment_row(f, w, gram_inv, row)
        out.append(row)
    return out
