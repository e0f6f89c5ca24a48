"""The ``ratio`` estimator's baseline: the exact coefficients evaluated at the *observed* event.

The network of :mod:`hepc9.models.ratio` learns E₀[c(z) | x], the coefficients of the true
kinematics z averaged over the events that give the observation x.  With a Belle II-like
resolution x is close to z, so the exact coefficients c(x) of the rate evaluated at the
observed q² and angles already carry almost all of that function: on reconstructed signal where
signal dominates they differ from the true ones by a mean square of 1.2·10⁻⁷ (ℓ; target
variance 4.4·10⁻³), where a 64-64-64 network trained on the whole function for two minutes
missed by 8.5·10⁻⁵ (docs/ratio.md, "Baseline").  With a baseline the network regresses
only the residual c(z) − c(x) (and with background the joint residual 1_sig (c(z) − c(x)), whose
conditional mean is a(x) − π(x) c(x)); the optimum of the regression, and hence the learned
likelihood, is unchanged — any fixed function of x may be subtracted — but what is left to
learn is the small effect of resolution and acceptance.

The baseline is a fixed function of x: the J_i quadratic-form matrices
(:func:`hepc9.physics.quadratic.angular_coefficient_matrices`, narrow K*, at the training's
reference point) tabulated on a grid uniform in ln q² over the q² window and interpolated
linearly, contracted with the f_i(Ω) of the observed angles in one threaded numba pass.  Linear
interpolation of the J_i keeps the rate a convex combination of two physical rates, so it stays
non-negative; an event whose rate vanishes gets zero coefficients (the residual absorbs it).
Observed q² outside the window is clamped to its edge nodes, cosines to [−1, 1].  The model
stores the grid's recipe (``model.json``: ``ratio.baseline``), not the grid.

The coefficient-vector layout itself (ℓ, then q; :func:`fill_coefficient_row`) is written
once, here, and shared by :func:`hepc9.models.ratio.coefficient_vector`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numba import njit, prange

from hepc9.errors import DataError, ShapeError
from hepc9.physics.angular import fill_angular_functions
from hepc9.physics.constants import SHIFT_NAMES, WilsonShifts, model_constants, q2_limits
from hepc9.physics.quadratic import angular_coefficient_matrices

__all__ = ["BASELINES", "GRID_POINTS", "baseline_coefficients", "baseline_spec",
           "coefficient_rows", "fill_coefficient_row", "n_coefficients",
           "observed_kinematics"]

#: ln q² nodes of the tabulated J_i matrices.
GRID_POINTS = 4096

_BLOCK = 4096


def _observed_spec(params: Sequence[str], shifts: WilsonShifts,
                   constants: Mapping[str, float],
                   q2_range: tuple[float, float] | None) -> dict[str, Any]:
    lo, hi = q2_range if q2_range is not None else q2_limits(model_constants(dict(constants)))
    return {"kind": "observed", "params": list(params),
            "shifts": dict(zip(SHIFT_NAMES, (float(v) for v in shifts.as_array()), strict=True)),
            "constants": {k: float(v) for k, v in dict(constants).items()},
            "q2_range": [float(lo), float(hi)], "grid_points": GRID_POINTS}


#: ``[model] ratio_baseline`` → builder of the stored recipe (``None``: no baseline, the
#: network learns the whole coefficient function).
BASELINES: dict[str, Callable[..., dict[str, Any]] | None] = {
    "observed": _observed_spec,
    "none": None,
}


def baseline_spec(name: str, *, params: Sequence[str], shifts: WilsonShifts,
                  constants: Mapping[str, float],
                  q2_range: tuple[float, float] | None) -> dict[str, Any] | None:
    """Return the stored recipe of the baseline ``name`` (``None`` for ``"none"``).

    Parameters
    ----------
    name : str
        A key of :data:`BASELINES` (``[model] ratio_baseline``).
    params : sequence of str
        Shifts of the quadratic form.
    shifts : WilsonShifts
        The reference point θ₀ (all six shifts).
    constants : mapping of str to float
        ``[physics] constants`` overrides.
    q2_range : (float, float) or None
        The generated q² window (``None``: the kinematic range).
    """
    if name not in BASELINES:
        raise DataError(f"unknown ratio baseline {name!r} (known: {', '.join(BASELINES)})")
    build = BASELINES[name]
    return None if build is None else build(params, shifts, constants, q2_range)


@functools.lru_cache(maxsize=8)
def _grid(key: str) -> tuple[np.ndarray, float, float]:
    """Return the tabulated matrices (G, 12, k+1, k+1) and the first node's ln q² and step.

    ``key`` is the recipe as canonical JSON (the cache key).
    """
    spec = json.loads(key)
    lo, hi = (float(v) for v in spec["q2_range"])
    g = int(spec["grid_points"])
    if not (0.0 < lo < hi) or g < 2:
        raise DataError(f"the ratio baseline's q² window {spec['q2_range']} or grid {g} is "
                        f"invalid; retrain the model")
    u0, du = math.log(lo), (math.log(hi) - math.log(lo)) / g
    # nodes at the centres of g equal ln q² cells: never exactly on a phase-space edge
    q2 = np.exp(u0 + du * (np.arange(g) + 0.5))
    mats = angular_coefficient_matrices(
        q2, params=spec["params"], at=WilsonShifts.from_mapping(spec["shifts"]),
        constants=model_constants(dict(spec["constants"])))
    return np.ascontiguousarray(np.moveaxis(mats, 1, 0)), u0 + 0.5 * du, du


def n_coefficients(k: int) -> int:
    """Return K = k(k+3)/2, the coefficients of ``k`` shifts (k linear, k(k+1)/2 quadratic)."""
    return k * (k + 3) // 2


@njit(cache=True, nogil=True)
def fill_coefficient_row(m, row):  # pragma: no cover - compiled
    """Write the coefficient vector of one quadratic form into ``row``: the one layout.

    ``m`` is the (k+1, k+1) matrix (upper triangle read); ``row`` receives ℓ_j = 2 M_0j / M_00
    for j = 1 … k, then q_ij = (2 − δ_ij) M_ij / M_00 for 1 ≤ i ≤ j ≤ k; all zeros where M_00
    is not positive and finite (a vanishing rate).
    """
    k1 = m.shape[0]
    ok = m[0, 0] > 0.0 and math.isfinite(m[0, 0])
    c = 0
    for j in range(1, k1):
        row[c] = 2.0 * m[0, j] / m[0, 0] if ok else 0.0
        c += 1
    for a in range(1, k1):
        for b in range(a, k1):
            row[c] = (1.0 if a == b else 2.0) * m[a, b] / m[0, 0] if ok else 0.0
            c += 1


@njit(cache=True, nogil=True, parallel=True)
def coefficient_rows(m, out):  # pragma: no cover - compiled
    """Write :func:`fill_coefficient_row` of every matrix of ``m`` (n, k+1, k+1) into ``out``."""
    for e in prange(m.shape[0]):
        fill_coefficient_row(m[e], out[e])


@njit(cache=True, nogil=True, parallel=True)
def _baseline_kernel(q2, ctl, ctk, chi, grid, u0, du, out):  # pragma: no cover - compiled
    """Write the coefficient vector (ℓ_j, then q_ij for i ≤ j) of every event into ``out``."""
    n = q2.size
    g = grid.shape[0]
    k1 = grid.shape[2]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        f = np.empty(12)
        m = np.empty((k1, k1))
        for e in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            t = (math.log(max(q2[e], 1e-300)) - u0) / du
            t = min(max(t, 0.0), g - 1.0)
            i0 = min(int(t), g - 2)
            w = t - i0
            fill_angular_functions(min(max(ctl[e], -1.0), 1.0), min(max(ctk[e], -1.0), 1.0),
                                   chi[e], f)
            for a in range(k1):
                for b in range(a, k1):
                    s = 0.0
                    for i in range(12):
                        s += f[i] * ((1.0 - w) * grid[i0, i, a, b] + w * grid[i0 + 1, i, a, b])
                    m[a, b] = s
            fill_coefficient_row(m, out[e])


def baseline_coefficients(spec: Mapping[str, Any], x: np.ndarray,
                          features: Sequence[str]) -> np.ndarray:
    """Return the baseline coefficients (n, K) of raw observed features.

    Parameters
    ----------
    spec : mapping
        The stored recipe (:func:`baseline_spec`).
    x : ndarray, shape (n, F)
        Raw features named ``features`` (q², cosθℓ, cosθK and χ or cos χ, sin χ).
    features : sequence of str
        Column names of ``x``.

    Returns
    -------
    ndarray, shape (n, K)
        float64, in :func:`hepc9.models.ratio.coefficient_vector` order.
    """
    grid, u0, du = _grid(json.dumps(dict(spec), sort_keys=True))
    k = grid.shape[2] - 1
    out = np.empty((len(x), n_coefficients(k)))
    _baseline_kernel(*observed_kinematics(x, features), grid, u0, du, out)
    return out


def observed_kinematics(x: np.ndarray,
                        features: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """Return contiguous float64 q², cosθℓ, cosθK and χ of raw features (χ from its circle).

    The one reader of the per-event columns for the ``ratio`` numba passes (input encoding
    and baseline).

    Raises
    ------
    ShapeError
        If q², the two cosines or χ (or cos χ and sin χ) are missing.
    """
    x = np.asarray(x, dtype=np.float64)
    cols = {f: x[:, i] for i, f in enumerate(features)}
    missing = [f for f in ("q2", "costheta_l", "costheta_k") if f not in cols]
    if missing or not ("chi" in cols or {"cos_chi", "sin_chi"} <= set(cols)):
        raise ShapeError(f"the ratio network needs q2, costheta_l, costheta_k and chi (or "
                         f"cos_chi, sin_chi); got {list(features)}")
    chi = cols["chi"] if "chi" in cols else np.arctan2(cols["sin_chi"], cols["cos_chi"])
    return tuple(np.ascontiguousarray(c, dtype=np.float64)  # type: ignore[return-value]
                 for c in (cols["q2"], cols["costheta_l"], cols["costheta_k"], chi))
