"""The learned-likelihood estimator ``ratio``: a per-event network for the quadratic rate.

The rate is exactly quadratic in real shifts θ = (θ_1, …, θ_k) about a reference point θ₀:
p(z|θ₀ + θ) ∝ θ̃ᵀ M(z) θ̃ with θ̃ = (1, θ) (:mod:`hepc9.physics.quadratic`).  Relative to the
reference density the per-event ratio is the polynomial

    w(z; θ) = 1 + Σ_j ℓ_j(z) θ_j + Σ_{i≤j} q_ij(z) θ_i θ_j,
    ℓ_j = 2 M_0j / M_00,   q_ij = (2 − δ_ij) M_ij / M_00,

whose K = k(k+3)/2 coefficients (:func:`coefficient_vector`) the generator knows for every
event from its true kinematics z.  A network regresses them (MSE) from the *observed*
quantities x; trained on events drawn at θ₀ the optimum is E₀[w(z; θ) | x] = p(x|θ₀+θ) /
p(x|θ₀) — the detector-level (folded) ratio, acceptance and resolution included.  With a
background the network is trained on a reference mixture of signal (at θ₀) and background
and regresses the *joint* targets 1_sig · c and 1_sig: its outputs are a(x) = E[1_sig c | x]
and the signal probability π(x) = E[1_sig | x] (see :mod:`hepc9.models.ratio_fit`).

This module holds the builder and the prediction hook; the set likelihood and its iminuit
maximisation live in :mod:`hepc9.models.ratio_fit`, the streamed training in
:mod:`hepc9.train.ratio`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numba import njit, prange

from hepc9.errors import DataError, ShapeError
from hepc9.models.ratio_baseline import (
    baseline_coefficients,
    coefficient_rows,
    n_coefficients,
    observed_kinematics,
)
from hepc9.models.ratio_fit import fit_sets
from hepc9.physics.angular import fill_angular_functions

__all__ = [
    "build",
    "coefficient_names",
    "coefficient_vector",
    "encode_features",
    "expand_features",
    "input_normalisation",
    "n_coefficients",
    "per_event_outputs",
    "predict_sets",
]

_PREDICT_BATCH = 1 << 16

#: Network inputs per event (:func:`expand_features`).
N_INPUTS = 17


def coefficient_names(params: Sequence[str]) -> list[str]:
    """Names of the coefficients in :func:`coefficient_vector` order (``l_<p>``, ``q_<p>_<p'>``)."""
    p = list(params)
    names = [f"l_{a}" for a in p]
    names += [f"q_{p[i]}_{p[j]}" for i in range(len(p)) for j in range(i, len(p))]
    return names


def coefficient_vector(matrices: np.ndarray) -> np.ndarray:
    """Return the normalised coefficients (ℓ, q) of per-event quadratic forms.

    Parameters
    ----------
    matrices : ndarray, shape (n, k+1, k+1)
        Symmetric per-event matrices M (:func:`hepc9.physics.quadratic.quadratic_coefficients`).

    Returns
    -------
    ndarray, shape (n, K)
        ``ℓ_j = 2 M_0j / M_00`` then ``q_ij = (2 − δ_ij) M_ij / M_00`` for i ≤ j (zeros for
        an event whose rate M_00 vanishes); the layout is
        :func:`hepc9.models.ratio_baseline.fill_coefficient_row`, shared with the baseline.
    """
    m = np.ascontiguousarray(matrices, dtype=np.float64)
    if m.ndim != 3 or m.shape[1] != m.shape[2] or m.shape[1] < 2:
        raise ShapeError(f"expected matrices of shape (n, k+1, k+1) with k ≥ 1, got {m.shape}")
    out = np.empty((m.shape[0], n_coefficients(m.shape[1] - 1)))
    coefficient_rows(m, out)
    return out


_ENCODE_BLOCK = 4096


@njit(cache=True, nogil=True, parallel=True)
def _encode_kernel(q2, ctl, ctk, chi, mean, std, out):  # pragma: no cover - compiled
    """Write ``(feature − mean) / std`` of every event into ``out`` (float32 or float64).

    Features per event: q², cosθℓ, cosθK, cos χ, sin χ and the twelve f_i(Ω) of
    :func:`hepc9.physics.angular.fill_angular_functions`; the arithmetic is float64 and the
    cast to ``out``'s dtype comes last.  Threads take blocks of :data:`_ENCODE_BLOCK` events.
    """
    n = q2.size
    n_blocks = (n + _ENCODE_BLOCK - 1) // _ENCODE_BLOCK
    for blk in prange(n_blocks):
        f = np.empty(12)
        v = np.empty(17)
        for e in range(blk * _ENCODE_BLOCK, min(n, (blk + 1) * _ENCODE_BLOCK)):
            fill_angular_functions(ctl[e], ctk[e], chi[e], f)
            v[0] = q2[e]
            v[1] = ctl[e]
            v[2] = ctk[e]
            v[3] = math.cos(chi[e])
            v[4] = math.sin(chi[e])
            for i in range(12):
                v[5 + i] = f[i]
            for j in range(17):
                out[e, j] = (v[j] - mean[j]) / std[j]


def _encode(x: np.ndarray, features: Sequence[str], mean: np.ndarray, std: np.ndarray,
            dtype: Any) -> np.ndarray:
    out = np.empty((len(x), N_INPUTS), dtype=dtype)
    _encode_kernel(*observed_kinematics(x, features),
                   np.ascontiguousarray(mean, dtype=np.float64),
                   np.ascontiguousarray(std, dtype=np.float64), out)
    return out


def expand_features(x: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """Return the network inputs of raw observed features: q², the angles and the f_i(Ω).

    The rate is Σ J_i(q²) f_i(Ω) with twelve known angular functions (physics.md §2.1), so
    the observed f_i (computed from the observed angles, χ from its cosine and sine) are
    given to the network beside q², cosθℓ, cosθK, cos χ, sin χ.

    Parameters
    ----------
    x : ndarray, shape (n, F)
        Raw features named ``features`` (``q2 costheta_l costheta_k`` and ``cos_chi
        sin_chi`` or ``chi``).
    features : sequence of str
        Column names of ``x``.

    Returns
    -------
    ndarray, shape (n, 17)
        float64.
    """
    return _encode(x, features, np.zeros(N_INPUTS), np.ones(N_INPUTS), np.float64)


def input_normalisation(z: np.ndarray) -> dict[str, list[float]]:
    """Mean and std (1 for constant columns) of expanded inputs of a reference sample."""
    std = z.std(axis=0)
    return {"mean": z.mean(axis=0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}


def encode_features(x: np.ndarray, norm: Mapping[str, Any],
                    features: Sequence[str]) -> np.ndarray:
    """Expand raw features and standardise them with the stored mean and std (float32).

    One fused, threaded pass (:func:`_encode_kernel`): the same float64 values as
    ``(expand_features(x) − mean) / std``, cast to float32 at the end.
    """
    mean = np.asarray(norm["mean"], dtype=np.float64)
    std = np.asarray(norm["std"], dtype=np.float64)
    if mean.shape != (N_INPUTS,) or std.shape != (N_INPUTS,):
        raise DataError(f"the ratio model's input normalisation has {mean.size} entries, not "
                        f"{N_INPUTS}; retrain it")
    return _encode(x, features, mean, std, np.float32)


def build(input_shape: tuple[int, ...], cfg: Any, *, n_outputs: int = 2,
          name: str = "ratio") -> Any:
    """Build the per-event network: features → K coefficients (+ a background logit).

    Parameters
    ----------
    input_shape : tuple of int
        ``(F,)``, one event's expanded inputs (:func:`expand_features`).
    cfg : hepc9.config.ModelConfig
        ``ratio_units`` (hidden widths).
    n_outputs : int
        Outputs (K coefficients, or 1 background logit).
    name : str
        Keras model name (unique inside a combined model).

    Returns
    -------
    keras.Model
        Uncompiled; linear outputs.
    """
    import keras
    from keras import layers

    inp = keras.Input(shape=tuple(input_shape), name="event")
    h = inp
    for i, units in enumerate(cfg.ratio_units):
        h = layers.Dense(int(units), activation="silu", name=f"hidden_{i}")(h)
    out = layers.Dense(int(n_outputs), name="coefficients")(h)
    return keras.Model(inp, out, name=name)


def per_event_outputs(model: Any, info: Mapping[str, Any],
                      x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the learned coefficients ``(n, K)`` and signal probabilities ``(n,)`` (or None).

    Without background the coefficients are c(x) = E₀[c | x] and the second value is None;
    with background they are the joint coefficients a(x) = E[1_sig c | x] of the reference
    mixture and the second value is π(x) = E[1_sig | x].  With a baseline
    (:mod:`hepc9.models.ratio_baseline`, ``ratio.baseline`` in ``model.json``) the network
    gives the residual about it, which is added back here.

    Parameters
    ----------
    model : keras.Model
        Trained network.
    info : mapping
        Its ``model.json`` (``ratio``: target scale, feature normalisation, background flag).
    x : ndarray, shape (n, F)
        Raw per-event features.
    """
    r = info["ratio"]
    z = encode_features(x, r["input_normalisation"], r["features"])
    n_out = len(r["target_std"])
    out = np.concatenate([np.asarray(model.predict_on_batch(z[s:s + _PREDICT_BATCH]))
                          for s in range(0, len(z), _PREDICT_BATCH)] or
                         [np.empty((0, n_out))])
    val = out.astype(np.float64) * np.asarray(r["target_std"]) + np.asarray(r["target_mean"])
    k = n_coefficients(len(r["params"]))
    # with a baseline the network's coefficients are residuals about c_base(x): c = c_base +
    # r(x), and with background a = π c_base + r(x) (models without one have none)
    base = (baseline_coefficients(r["baseline"], x, r["features"])
            if r.get("baseline") is not None else None)
    if not r["background"]:
        return (val[:, :k] if base is None else val[:, :k] + base), None
    if r.get("background_model") != "mixture":
        raise DataError("this ratio model predates the mixture background head (learned "
                         "odds); retrain it")
    pi = val[:, k]
    return (val[:, :k] if base is None else val[:, :k] + pi[:, None] * base), pi


def predict_sets(model: Any, info: Mapping[str, Any], x: np.ndarray, *, batch_size: int = 64,
                 quantiles: tuple[float, float] = (0.16, 0.84)) -> dict[str, np.ndarray]:
    """Prediction hook: maximise the learned likelihood of every set.

    Parameters
    ----------
    model : keras.Model
        Trained network.
    info : mapping
        Its ``model.json``.
    x : ndarray, shape (N, n, F)
        Event sets of raw features.
    batch_size : int
        Unused (events are evaluated in large blocks).
    quantiles : (float, float)
        Unused: the interval is the MINOS interval at ΔlnL = ½ (68.3 %).

    Returns
    -------
    dict of ndarray, shape (N,)
        ``dc9`` (maximum, the reference point added), ``std`` (HESSE), ``lower`` and
        ``upper`` (MINOS), ``valid``; with several shifts one entry ``<param>`` (and
        ``<param>_std``) per shift, ``background_fraction`` with a background, and
        ``common_error`` (with ``<param>_common``): the error of each estimate from the
        normalisation's Monte Carlo error, shared by every set (models trained before it was
        recorded have none).
    """
    x = np.asarray(x)
    n_sets, n_ev, n_feat = x.shape
    coef, signal = per_event_outputs(model, info, x.reshape(-1, n_feat))
    r = info["ratio"]
    res = fit_sets(coef.reshape(n_sets, n_ev, -1),
                   None if signal is None else signal.reshape(n_sets, n_ev),
                   np.asarray(r["normalisation"]), params=r["params"],
                   reference=r["reference"],
                   norm_cov=(np.asarray(r["normalisation_cov"]) if "normalisation_cov" in r
                             else None))
    return res
