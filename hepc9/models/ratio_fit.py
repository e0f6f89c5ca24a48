"""The set likelihood of the ``ratio`` estimator and its maximisation with iminuit (numpy only).

Without background, for a set of n events with learned coefficients c_e
(:func:`hepc9.models.ratio.coefficient_vector` layout) and the normalisation R = E₀[c] over an
accepted reference sample:

    ln L(θ) = Σ_e ln[ w_e(θ) / W(θ) ],
    w_e(θ) = 1 + c_e · φ(θ),   W(θ) = 1 + R · φ(θ),   φ(θ) = (θ_j; θ_i θ_j, i ≤ j).

With background, the joint coefficients a_e and signal probabilities π_e of the reference
mixture (background fraction f_t) and its normalisation (N_π, N_a) give, for a free fraction f,

    ln L(θ, f) = Σ_e ln[ (1 − f)(π_e + a_e · φ(θ)) / (N_π + N_a · φ(θ))
                        + f (1 − π_e) / (1 − N_π) ].

The normalisation is a Monte Carlo mean over a finite reference sample, and one sample serves
every set: its error moves all estimates together.  :func:`normalisation_error` propagates the
covariance of that mean (stored by the training) into each estimate, to first order: the
maximum û moves by one Newton step δû = −H⁻¹ ∇_u(−ln L)(û; N + δN), evaluated along the
covariance's eigenvectors (:mod:`hepc9.propagation`, as the fit's error components).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hepc9.errors import ShapeError
from hepc9.minuit import LIKELIHOOD, migrad_hesse, run_minos
from hepc9.models.ratio_baseline import n_coefficients
from hepc9.propagation import central_variance, eigen_steps

__all__ = ["fit_set", "fit_sets", "monomials", "normalisation_error", "set_nll"]

_FLOOR = 1e-12


def monomials(theta: np.ndarray) -> np.ndarray:
    """Return φ(θ) = (θ_1..θ_k, θ_iθ_j for i ≤ j), shape (K,)."""
    t = np.asarray(theta, dtype=np.float64).reshape(-1)
    k = t.size
    quad = [t[i] * t[j] for i in range(k) for j in range(i, k)]
    return np.concatenate([t, np.asarray(quad, dtype=np.float64)])


def set_nll(theta: np.ndarray, coef: np.ndarray, norm: np.ndarray,
            signal: np.ndarray | None = None, fraction: float = 0.0) -> float:
    """Return −ln L(θ, f) of one set (see the module docstring).

    Parameters
    ----------
    theta : array_like, shape (k,)
        Shifts relative to the reference point.
    coef : ndarray, shape (n, K)
        Learned per-event coefficients c_e (without background) or joint coefficients a_e.
    norm : ndarray, shape (K,) or (K + 1,)
        R; with background (N_π, N_a).
    signal : ndarray, shape (n,), optional
        Learned signal probabilities π_e (background in the set).
    fraction : float
        Background fraction f.
    """
    phi = monomials(theta)
    norm = np.asarray(norm, dtype=np.float64)
    if signal is None:
        big_w = 1.0 + float(norm @ phi)
        if big_w <= 0.0:
            return 1e30
        g = np.maximum(1.0 + coef @ phi, _FLOOR) / big_w
    else:
        n_pi = float(norm[0])
        big_w = n_pi + float(norm[1:] @ phi)
        if big_w <= 0.0 or not 0.0 < n_pi < 1.0:
            return 1e30
        g = ((1.0 - fraction) * np.maximum(signal + coef @ phi, 0.0) / big_w
             + fraction * np.maximum(1.0 - signal, 0.0) / (1.0 - n_pi))
    return float(-np.sum(np.log(np.maximum(g, _FLOOR))))


def fit_set(coef: np.ndarray, norm: np.ndarray, signal: np.ndarray | None = None, *,
            params: Sequence[str] = ("dc9",), minos: bool = True) -> dict[str, float]:
    """Maximise the learned likelihood of one set.

    Parameters
    ----------
    coef : ndarray, shape (n, K)
        Learned coefficients (joint coefficients a_e with background).
    norm : ndarray, shape (K,) or (K + 1,)
        Normalisation R, or (N_π, N_a) with background.
    signal : ndarray, shape (n,), optional
        Learned signal probabilities; the background fraction is then a free parameter in
        [0, 1].
    params : sequence of str
        Names of the k shifts.
    minos : bool
        Compute MINOS intervals (else ± HESSE).

    Returns
    -------
    dict of str to float
        Per shift ``<p>``, ``<p>_std``, ``<p>_lower``, ``<p>_upper`` (relative to the
        reference point); ``fraction`` and ``fraction_std`` with background; ``valid``.
    """
    params = list(params)
    k = len(params)
    coef = np.asarray(coef, dtype=np.float64)
    if coef.ndim != 2 or coef.shape[1] != n_coefficients(k):
        raise ShapeError(f"coefficients of shape {coef.shape} do not match {k} shift(s)")
    norm = np.asarray(norm, dtype=np.float64)
    with_bkg = signal is not None
    if norm.shape != (coef.shape[1] + int(with_bkg),):
        raise ShapeError(f"normalisation of shape {norm.shape} does not match {coef.shape[1]} "
                         f"coefficient(s){' and a signal probability' if with_bkg else ''}")
    if with_bkg:
        signal = np.asarray(signal, dtype=np.float64)
    names = [*params, "fraction"] if with_bkg else params

    def nll(v: np.ndarray) -> float:
        t = np.asarray(v[:k])
        return set_nll(t, coef, norm, signal, v[k] if with_bkg else 0.0)

    # with background, start at the reference mixture's fraction (where every g_e = 1)
    start = [0.0] * k + ([1.0 - float(norm[0])] if with_bkg else [])
    steps = dict.fromkeys(params, 0.1)
    limits: dict[str, tuple[float, float]] = {}
    if with_bkg:
        limits["fraction"] = (0.0, 1.0)
        steps["fraction"] = 0.05
    m = migrad_hesse(nll, start, names=names, errordef=LIKELIHOOD, steps=steps, limits=limits,
                     hesse="always")
    out: dict[str, float] = {"valid": float(m.valid)}
    for p in params:
        out[p] = float(m.values[p])
        out[f"{p}_std"] = float(m.errors[p])
        out[f"{p}_lower"] = out[p] - out[f"{p}_std"]
        out[f"{p}_upper"] = out[p] + out[f"{p}_std"]
    if minos and m.valid:
        me = run_minos(m, params, each=True)
        for p, (lo, hi) in me.intervals.items():
            if me.valid[p]:
                out[f"{p}_lower"] = out[p] + lo
                out[f"{p}_upper"] = out[p] + hi
    if with_bkg:
        out["fraction"] = float(m.values["fraction"])
        out["fraction_std"] = float(m.errors["fraction"])
    return out


def normalisation_error(coef: np.ndarray, norm: np.ndarray, norm_cov: np.ndarray,
                        signal: np.ndarray | None, theta: Sequence[float] | np.ndarray,
                        fraction: float = 0.0) -> np.ndarray:
    """Return the error of each fitted shift that the normalisation's Monte Carlo error gives.

    Parameters
    ----------
    coef, norm, signal
        As for :func:`set_nll`.
    norm_cov : ndarray, shape (len(norm), len(norm))
        Covariance of the normalisation (the Monte Carlo error of the reference-sample mean).
    theta : array_like, shape (k,)
        The maximum-likelihood shifts (relative to the reference point).
    fraction : float
        The fitted background fraction (with ``signal``); at a limit (0 or 1) it is held fixed.

    Returns
    -------
    ndarray, shape (k,)
        Standard deviation of each shift from the normalisation alone (nan where the
        likelihood is not finite around the maximum).
    """
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    norm = np.asarray(norm, dtype=np.float64)
    k = theta.size
    steps = eigen_steps(np.asarray(norm_cov, dtype=np.float64))
    if not steps:
        return np.zeros(k)
    free_f = signal is not None and 1e-6 < fraction < 1.0 - 1e-6
    u0 = np.concatenate([theta, [fraction]]) if free_f else theta
    eye = np.diag(np.array([1e-3] * k + ([1e-4] if free_f else [])))
    h = np.diag(eye)
    worst = [0.0]

    def nll(du: np.ndarray, nv: np.ndarray = norm) -> float:
        u = u0 + du
        v = set_nll(u[:k], coef, nv, signal, float(u[k]) if free_f else fraction)
        worst[0] = max(worst[0], v)
        return v

    def grad(nv: np.ndarray) -> np.ndarray:
        return np.array([(nll(e, nv) - nll(-e, nv)) / (2.0 * hi) for e, hi in zip(eye, h,
                                                                                  strict=True)])

    m = u0.size
    hess = np.empty((m, m))
    for i in range(m):
        for j in range(i, m):
            ei, ej = eye[i], eye[j]
            hess[i, j] = hess[j, i] = (
                (nll(ei) - 2.0 * nll(0 * ei) + nll(-ei)) / h[i] ** 2 if i == j else
                (nll(ei + ej) - nll(ei - ej) - nll(-ei + ej) + nll(-ei - ej)) / (4 * h[i] * h[j]))

    # the maximum moves by one Newton step −H⁻¹ ∇(−ln L) when the normalisation moves; the
    # steps are 1 % of the covariance's, so that the central difference is linear to ~10⁻⁸
    scale = 1e-2

    def shift(step: np.ndarray) -> np.ndarray:
        return -np.linalg.solve(hess, grad(norm + scale * step))[:k] / scale

    try:
        var = central_variance(shift, steps, k)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
    if worst[0] >= 1e29 or not np.all(np.isfinite(var)):
        return np.full(k, np.nan)
    return np.sqrt(var)


def fit_sets(coef: np.ndarray, signal: np.ndarray | None, norm: np.ndarray, *,
             params: Sequence[str] = ("dc9",), reference: Mapping[str, float] | None = None,
             minos: bool = True, norm_cov: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Maximise the learned likelihood of every set; values include the reference point.

    Parameters
    ----------
    coef : ndarray, shape (N, n, K)
        Learned (joint) coefficients per set and event.
    signal : ndarray, shape (N, n), optional
        Learned signal probabilities (background in the sets).
    norm : ndarray, shape (K,) or (K + 1,)
        Normalisation R, or (N_π, N_a) with background.
    params : sequence of str
        Shift names.
    reference : mapping, optional
        Reference value per shift (default 0).
    minos : bool
        MINOS intervals.
    norm_cov : ndarray, optional
        Covariance of the normalisation; then also ``<p>_common`` per shift and
        ``common_error`` (δC9 or the first shift): the error every set shares through the one
        normalisation (:func:`normalisation_error`).

    Returns
    -------
    dict of ndarray, shape (N,)
        ``dc9``/``std``/``lower``/``upper`` for δC9 (the registry's keys; for the first shift
        when δC9 is not fitted), ``<p>``, ``<p>_std``, ``<p>_lower``,
        ``<p>_upper`` per shift, ``valid``, and ``background_fraction`` with background.
    """
    coef = np.asarray(coef)
    if coef.ndim != 3:
        raise ShapeError(f"expected coefficients (N, n, K), got {coef.shape}")
    ref = dict(reference or {})
    rows = [fit_set(coef[i], norm, None if signal is None else np.asarray(signal)[i],
                    params=params, minos=minos) for i in range(coef.shape[0])]
    out: dict[str, np.ndarray] = {}
    for p in params:
        shift = float(ref.get(p, 0.0))
        for suffix in ("", "_lower", "_upper"):
            out[p + suffix] = np.array([r[p + suffix] + shift for r in rows])
        out[f"{p}_std"] = np.array([r[f"{p}_std"] for r in rows])
    first = "dc9" if "dc9" in params else params[0]
    out["dc9"] = out[first]
    out["std"] = out[f"{first}_std"]
    out["lower"] = out[f"{first}_lower"]
    out["upper"] = out[f"{first}_upper"]
    out["valid"] = np.array([r["valid"] for r in rows])
    if signal is not None:
        out["background_fraction"] = np.array([r["fraction"] for r in rows])
    if norm_cov is not None:
        common = np.array([normalisation_error(
            coef[i], norm, norm_cov, None if signal is None else np.asarray(signal)[i],
            [r[p] for p in params], r.get("fraction", 0.0)) for i, r in enumerate(rows)])
        for j, p in enumerate(params):
            out[f"{p}_common"] = common[:, j]
        out["common_error"] = out[f"{first}_common"]
    return out
