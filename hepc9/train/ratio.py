"""Streamed training of the ``ratio`` estimator: exact per-event coefficients as targets.

Every training block is drawn fresh from the one event chain (:mod:`hepc9.simulation`) at
the reference point θ₀ (``[train] ratio_reference`` for δC9, the ``[generate]`` values for
the other shifts): generator-level events, or at detector level the reconstructed
signal-region signal, each carrying its *true* kinematics.  The target of an event is the
coefficient vector of its exact quadratic form about θ₀
(:func:`hepc9.models.ratio.coefficient_vector` of
:func:`hepc9.physics.quadratic.quadratic_coefficients`), less the same coefficients evaluated
at the observed kinematics with ``[model] ratio_baseline = "observed"``
(:mod:`hepc9.models.ratio_baseline`); the input its *observed* features.
The MSE optimum is E₀[target | x], the folded detector-level ratio p(x|θ₀+θ)/p(x|θ₀) — exact
because the events are drawn at θ₀, the point the coefficients are expanded about (drawn at
another density the regression would weight the conditional expectation with the wrong
p(z|x)).  With background the latent class joins the latent variables (Brehmer et al.): the
network is trained on a reference *mixture* — the signal above and background candidates in
the proportion f_t = ``[background] fraction`` — and regresses the joint targets (1_sig c,
1_sig), whose MSE optimum is a(x) = E[1_sig c | x] and the signal probability π(x) = E[1_sig |
x]; the mixture likelihood (:mod:`hepc9.models.ratio_fit`) is then exact in θ and in the
fraction.  The background candidates are those of the signal region *and* of the Mbc
sideband (:func:`hepc9.simulation.signal_region_background`; the background's q²-angle
shape does not depend on Mbc unless ``[background] mbc_shape_strength`` is set, the same
assumption as the fit's sideband template), six times more per generated candidate than the
signal region alone.  The normalisation (R = E₀[c], or N_π, N_a of the mixture) is the mean
learned output over a separate reference sample.

Random streams: ``seed_sequence(seed, "train", 5, member, part, block)`` with part 0
(training blocks), 1 (feature and target statistics), 2 (validation), 3 (normalisation);
inside a block, children ``(0|1|2, 0)`` the signal, ``(5, r)`` background round r and
``(6, 0)`` the choice of the background candidates kept.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hepc9.artifacts import write_json
from hepc9.datasets.sets import DEFAULT_FEATURES
from hepc9.errors import ConfigError
from hepc9.models import _backend, save_model
from hepc9.models.ratio import (
    build,
    encode_features,
    expand_features,
    input_normalisation,
    n_coefficients,
    per_event_outputs,
)
from hepc9.models.ratio_baseline import baseline_coefficients, baseline_spec
from hepc9.physics.amplitudes import check_params
from hepc9.simulation import ChainInputs
from hepc9.train.loop import TrainResult, fresh_output, member_seed
from hepc9.train.model_info import base_info
from hepc9.train.ratio_blocks import (
    RatioBlock,
    block_drawer,
    draw_block,
    exact_norm,
    reference_sample,
)

__all__ = ["RatioBlock", "draw_block", "fit_network", "train_ratio"]

_STREAM = 5


def _settings(cfg: Any) -> dict[str, Any]:
    t, m = cfg.train, cfg.model
    params = tuple(check_params(m.ratio_params))
    if t.ratio_events <= 0 or t.ratio_block_events <= 0 or t.ratio_reference_events <= 0:
        raise ConfigError("[train] ratio_events, ratio_block_events and ratio_reference_events "
                          "must be positive")
    return {"params": params, "dc9": float(t.ratio_reference), "block": int(t.ratio_block_events),
            "blocks": max(1, math.ceil(t.ratio_events / t.ratio_block_events)),
            "batch": int(t.ratio_batch_size), "lr": float(t.ratio_learning_rate),
            "norm_events": int(t.ratio_reference_events)}


def fit_network(model: Any, blocks: Callable[[int], tuple[np.ndarray, ...]],
                n_blocks: int, *, loss: Any, lr: float, batch: int,
                verbose: int = 0) -> list[float]:
    """Train ``model`` one pass over each of ``n_blocks`` fresh blocks (Adam, cosine decay).

    Parameters
    ----------
    model : keras.Model
        Uncompiled network.
    blocks : callable
        ``blocks(b) -> (inputs, targets)`` or ``(inputs, targets, sample_weights)`` of block
        ``b`` (drawn fresh for every block).
    n_blocks : int
        Blocks (one pass each).
    loss : str or keras loss
        Training loss.
    lr : float
        Initial learning rate.
    batch : int
        Minibatch size.
    verbose : int
        Keras progress output.

    Returns
    -------
    list of float
        Training loss after each block.
    """
    import keras

    data = blocks(0)
    x = data[0]
    # cosine decay over all optimiser steps (the first block's size stands for every block)
    sched = keras.optimizers.schedules.CosineDecay(
        lr, decay_steps=max(1, n_blocks * math.ceil(len(x) / batch)), alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=sched), loss=loss)
    losses = []
    for b in range(n_blocks):
        if b:
            data = blocks(b)
        weights = data[2] if len(data) > 2 else None
        h = model.fit(data[0], data[1], sample_weight=weights, batch_size=batch, epochs=1,
                      verbose=verbose, shuffle=True)
        losses.append(float(h.history["loss"][-1]))
    return losses


def train_ratio(cfg: Any, output: str | os.PathLike[str], *, model_name: str = "ratio",
                epochs: int | None = None, backend: str | None = None,
                overwrite: bool = False, verbose: int | str = 0) -> TrainResult:
    """Train the ``ratio`` network on freshly streamed reference events and save it.

    Parameters
    ----------
    cfg : hepc9.config.Config
        ``[train] ratio_*``, ``[model] ratio_units ratio_params``, the event chain sections
        (generator level when ``[detector] enabled = false``).
    output : path
        Model folder.
    model_name : str
        Registry name recorded in ``model.json`` (its entry's prediction hook decodes it).
    epochs : int, optional
        Number of training blocks instead of ``ratio_events / ratio_block_events``.
    backend : str, optional
        Keras backend.
    overwrite : bool
        Replace a finished model.
    verbose : int or str
        Keras progress output.

    Returns
    -------
    TrainResult
    """
    out = fresh_output(output, overwrite)
    used = _backend.select(backend, cfg.train.backend)
    import keras

    s = _settings(cfg)
    if epochs is not None:
        s["blocks"] = int(epochs)
    chain = ChainInputs.from_config(cfg)
    with_bkg = chain.background is not None and chain.split[1] > 0
    features = tuple(DEFAULT_FEATURES)
    params = s["params"]
    k = n_coefficients(len(params))
    member = int(cfg.train.member)
    t0 = time.perf_counter()

    block = block_drawer(cfg, chain, _STREAM, dc9=s["dc9"], params=params, features=features,
                         background=with_bkg)

    stats = block(1, 0, s["block"])
    norm = input_normalisation(expand_features(stats.x, features))
    n_in = len(norm["mean"])

    ref = reference_sample(chain, s["dc9"])
    baseline = baseline_spec(cfg.model.ratio_baseline, params=params, shifts=ref.shifts,
                             constants=cfg.physics.constants, q2_range=ref.q2_range)

    def targets(blk: RatioBlock, residual: bool = True) -> tuple[np.ndarray, np.ndarray]:
        if residual and baseline is not None:
            # the regression target about the baseline: c(z) − c_base(x) (its conditional
            # mean is the learned function minus a fixed function of x)
            blk = RatioBlock(blk.x, blk.y - baseline_coefficients(baseline, blk.x, features),
                             blk.xb)
        return blk.mixture() if with_bkg else (blk.x, blk.y)

    t_stats = targets(stats)[1]
    t_mean, t_std = t_stats.mean(axis=0), t_stats.std(axis=0)
    t_std = np.where(t_std > 0, t_std, 1.0)
    # the scale of the whole coefficients, for a validation MSE comparable across baselines
    y_scale = targets(stats, residual=False)[1].std(axis=0)
    y_scale = np.where(y_scale > 0, y_scale, 1.0)
    keras.utils.set_random_seed(member_seed(cfg.seed, member))
    model = build((n_in,), cfg.model, n_outputs=k + int(with_bkg),
                  name="ratio" if with_bkg else "coefficients")
    cache: dict[int, RatioBlock] = {}

    def train_block(b: int) -> RatioBlock:
        if b not in cache:
            cache.clear()
            cache[b] = stats if b == 0 else block(0, b, s["block"])
        return cache[b]

    def train_xy(b: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = targets(train_block(b))
        return encode_features(x, norm, features), ((y - t_mean) / t_std).astype(np.float32)

    v = 0 if verbose == 0 else 2
    losses = fit_network(model, train_xy, s["blocks"], loss="mse", lr=s["lr"],
                         batch=s["batch"], verbose=v)
    cache.clear()
    ratio_info: dict[str, Any] = {
        "params": list(params), "reference": {p: float(getattr(ref.shifts, p)) for p in params},
        "target_mean": t_mean.tolist(), "target_std": t_std.tolist(),
        "input_normalisation": norm, "background": bool(with_bkg),
        "features": list(features), "baseline": baseline,
    }
    if with_bkg:
        ratio_info["background_model"] = "mixture"
        ratio_info["training_fraction"] = float(chain.background_fraction)
    info = _info(cfg, model_name, features, n_in, ratio_info)
    (ratio_info["normalisation"], ratio_info["normalisation_method"],
     ratio_info["normalisation_cov"]) = _normalisation(
        model, info, chain, lambda b: block(3, b, min(s["block"], s["norm_events"])),
        s["norm_events"], s["dc9"], params)
    val = block(2, 0, s["block"])
    pred, pi = per_event_outputs(model, info, val.x)
    metrics: dict[str, Any] = {"n": int(val.x.shape[0])}
    keep = np.ones(len(val.y), dtype=bool)
    if pi is not None and val.xb is not None:
        # the conditional coefficients a/π of the signal events where signal dominates (π ≥ ½;
        # a/π is ill-conditioned where π → 0), and the mean signal probability of each class
        _, pi_b = per_event_outputs(model, info, val.xb)
        assert pi_b is not None  # a background model returns signal probabilities
        keep = pi >= 0.5
        pred = pred / np.maximum(pi, 0.5)[:, None]
        metrics["signal_probability"] = {"signal_mean": float(pi.mean()),
                                         "background_mean": float(pi_b.mean()),
                                         "signal_dominated": float(keep.mean())}
    corr = [float(np.corrcoef(pred[keep, j], val.y[keep, j])[0, 1]) for j in range(k)]
    mse = float(np.mean(((pred[keep] - val.y[keep]) / y_scale[:k]) ** 2))
    seconds = time.perf_counter() - t0
    info["training"] = {"blocks": s["blocks"], "block_events": s["block"],
                        "losses": losses, "seconds": seconds, "loss": "mse",
                        # the learned likelihood fits the background fraction of every set
                        "background_fraction": "free"}
    metrics.update(mse=mse, corr=corr)
    info["validation"] = metrics
    save_model(model, out, info, overwrite=True)
    write_json(out / "history.json",
               {"epochs": [{"epoch": i, "loss": lo} for i, lo in enumerate(losses)]})
    return TrainResult(output=str(out), model=model_name, epochs_run=s["blocks"],
                       best_epoch=s["blocks"] - 1, best_val_loss=mse,
                       validation={"mse": mse, "corr": min(corr), "n": int(val.x.shape[0])},
                       backend=used)


class _Moments:
    """Running sums of per-event vectors: their mean and the covariance of that mean."""

    def __init__(self, k: int) -> None:
        self.n, self.s, self.ss = 0, np.zeros(k), np.zeros((k, k))

    def add(self, v: np.ndarray) -> None:
        self.n += v.shape[0]
        self.s += v.sum(axis=0)
        self.ss += v.T @ v

    def mean(self) -> np.ndarray:
        return self.s / self.n

    def mean_cov(self) -> np.ndarray:
        m = self.mean()
        return (self.ss / self.n - np.outer(m, m)) / max(self.n - 1, 1)


def _normalisation(model: Any, info: dict[str, Any], chain: ChainInputs,
                   blocks: Callable[[int], RatioBlock], n_events: int, dc9: float,
                   params: tuple[str, ...]) -> tuple[list[float], str, list[list[float]]]:
    """Return the normalisation over a reference sample, how it was computed, and its covariance.

    Without background R = E₀[learned c] over accepted reference events.  A normalisation
    error δR shifts every estimate alike by ≈ δR / Var₀(c), so its Monte Carlo error must be
    far below the set's: at generator level the exact E₀[c_true] (q² integral of the
    normalisation matrix) is used as a control variate, R = E₀[c_true] + mean(c_learned −
    c_true), whose spread is that of the small regression residual; with a detector the plain
    mean over ``n_events`` accepted events.  With background (N_π, N_a), the means of the
    learned outputs over the reference mixture, signal and background weighted 1 − f_t : f_t.
    The covariance is that of these Monte Carlo means (events independent); the prediction
    propagates it into every estimate as the error the ensemble shares
    (:func:`hepc9.models.ratio_fit.normalisation_error`).
    """
    ratio_info = info["ratio"]
    k = len(params) * (len(params) + 3) // 2
    with_bkg = bool(ratio_info["background"])
    if with_bkg:
        f = float(ratio_info["training_fraction"])
        sig, bkg, b = _Moments(k + 1), _Moments(k + 1), 0
        while sig.n + bkg.n < n_events:
            blk = blocks(b)
            assert blk.xb is not None  # reference blocks carry the mixture's background
            for x, acc in ((blk.x, sig), (blk.xb, bkg)):
                a, pi = per_event_outputs(model, info, x)
                assert pi is not None
                acc.add(np.concatenate([pi[:, None], a], axis=1))
            b += 1
        mix = (1.0 - f) * sig.mean() + f * bkg.mean()
        cov = (1.0 - f) ** 2 * sig.mean_cov() + f ** 2 * bkg.mean_cov()
        return mix.tolist(), (f"(N_pi, N_a) over a reference mixture of {sig.n} signal and "
                              f"{bkg.n} background events"), cov.tolist()
    acc, b = _Moments(k), 0
    r_exact = exact_norm(chain, dc9, params)
    while acc.n < n_events:
        blk = blocks(b)
        c, _ = per_event_outputs(model, info, blk.x)
        acc.add(c - blk.y if r_exact is not None else c)
        b += 1
    cov = acc.mean_cov().tolist()
    if r_exact is None:
        return acc.mean().tolist(), f"mean over {acc.n} accepted reference events", cov
    return ((r_exact + acc.mean()).tolist(),
            f"exact E0[c_true] + mean residual over {acc.n} reference events", cov)


def _info(cfg: Any, name: str, features: tuple[str, ...], n_in: int,
          ratio_info: dict[str, Any]) -> dict[str, Any]:
    m = int(cfg.datasets.events_per_image)
    info = base_info(cfg, name=name, builder="hepc9.models.ratio:build", item_kind="sets",
                     item_shape=(m, len(features)), input_shape=(n_in,),
                     dataset_index={"features": list(features), "events_per_set": m})
    info.update(events_per_set=m, features=list(features), labels={"kind": "coefficients"},
                ratio=ratio_info)
    return info
