"""Streamed training of ``event_exact``: the event classifier on exact per-event posteriors.

The event classifier (:mod:`hepc9.models.event_classifier`, quadratic head) estimates the
class posterior p(θ_k | x) of a single event under a flat prior over the K class nodes θ_k
(``[datasets] prior_range``, ``[model] event_bins``).  Trained on hard labels, the
cross-entropy's signal is the tiny per-event information about δC9 buried in the label noise.
Here the generator's exact per-event rate replaces the label (the "augmented" classifier
loss of Brehmer, Louppe, Pavez, Cranmer, arXiv:1808.00973): every event is drawn at the
reference point θ₀ (``[train] ratio_reference``) and carries the exact unnormalised weight of
its *true* kinematics z,

    w_k(z) = 1 + ℓ(z) d_k + q(z) d_k²,   d_k = θ_k − θ₀,   W(θ) = E₀[w(z; θ − θ₀)]

(:func:`hepc9.models.ratio.coefficient_vector`); a background candidate carries W(θ_k), as
its density does not depend on θ while the signal's unnormalised one scales with W.  With the
mixture weight m = (1/K) Σ_k w_k and the soft targets t_k = w_k / Σ_j w_j, the m-weighted
cross-entropy over events drawn at θ₀ has its optimum at E₀[m t_k | x] / E₀[m | x] ∝
E₀[w_k | x] ∝ W(θ_k) p(x | θ_k): the class posterior is exactly quadratic in θ (what the
quadratic head represents; dividing w_k by W(θ_k) would make it a ratio of quadratics), with
the label noise integrated out.  At detector level the weight of the true kinematics folds
acceptance and resolution exactly as for ``ratio`` (E₀[· | x] over the survivors); W is the
mean over the accepted reference signal.

The set likelihood Σ_i log q_i(θ) − n log Z(θ) (:mod:`hepc9.models.event_posterior`) uses
the reference normalisation Z(θ)/Z(θ₀) = E₀[q_x(θ)/q_x(θ₀)] = W(θ)/W(θ₀) over a separate
reference sample (``ratio_reference_events``), so the factor W cancels: Z ∝ A + B t + C t²,
recorded as ``labels.z_quadratic`` (A + B t₀ + C t₀² = 1).

Budget: ``[train] exact_events exact_batch_size`` and ``[model] exact_units``; shared with
``ratio``: ``ratio_block_events``, ``ratio_reference``, ``ratio_reference_events``,
``ratio_learning_rate``.  Random streams: ``seed_sequence(seed, "train", 6, member, part,
block)``, part 0 training, 1 feature statistics, 2 validation, 3 normalisation.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any

import numpy as np

from hepc9.artifacts import write_json
from hepc9.datasets.build import dataset_spec
from hepc9.datasets.sets import SetSpec
from hepc9.errors import ConfigError
from hepc9.models import _backend, save_model
from hepc9.models.event_classifier import build
from hepc9.models.event_posterior import coefficient_model, log_softmax
from hepc9.models.inputs import feature_normalisation, prepare_inputs
from hepc9.models.quadratic_head import normalised_theta, quadratic_terms
from hepc9.simulation import ChainInputs
from hepc9.train.loop import TrainResult, fresh_output, member_seed
from hepc9.train.model_info import base_info
from hepc9.train.ratio import fit_network
from hepc9.train.ratio_blocks import RatioBlock, block_drawer, exact_norm

__all__ = ["soft_targets", "train_event_exact"]

_STREAM = 6
_PARAMS = ("dc9",)


def soft_targets(blk: RatioBlock, nodes: np.ndarray, dc9: float,
                 norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the soft class targets and mixture weights of a block's events.

    Parameters
    ----------
    blk : RatioBlock
        Events drawn at the reference point: signal with exact coefficients (ℓ, q) about it,
        and optionally background candidates (``xb``).
    nodes : ndarray, shape (K,)
        δC9 of the classes.
    dc9 : float
        Reference δC9 θ₀.
    norm : ndarray, shape (2,)
        R = E₀[(ℓ, q)], so that W(θ) = 1 + R_ℓ d + R_q d² with d = θ − θ₀.

    Returns
    -------
    targets : ndarray, shape (n + m, K), float32
        t_k = w_k / Σ_j w_j (signal first, then background with w_k = W(θ_k)).
    weights : ndarray, shape (n + m,), float32
        The mixture weight m = mean_k w_k, scaled to mean 1.
    """
    d = np.asarray(nodes, dtype=np.float64) - float(dc9)
    big_w = 1.0 + norm[0] * d + norm[1] * d * d
    if np.any(big_w <= 0):
        raise ConfigError("the reference normalisation is not positive over the class nodes; "
                          "use a narrower [datasets] prior_range")
    y = np.asarray(blk.y, dtype=np.float64)
    w = np.maximum(1.0 + y[:, 0:1] * d + y[:, 1:2] * d * d, 0.0)
    if blk.xb is not None:
        w = np.concatenate([w, np.broadcast_to(big_w, (len(blk.xb), d.size))])
    m = w.mean(axis=1)
    m = np.where(m > 0, m, 1e-12)
    t = w / (d.size * m[:, None])
    return t.astype(np.float32), (m / m.mean()).astype(np.float32)


def _features(blk: RatioBlock, spec: SetSpec) -> np.ndarray:
    """Return the block's events (signal, then background), standardised as stored sets."""
    x = blk.x if blk.xb is None else np.concatenate([blk.x, blk.xb])
    return spec.standardise(x)


def _settings(cfg: Any) -> dict[str, Any]:
    t, d = cfg.train, cfg.datasets
    if t.exact_events <= 0 or t.ratio_block_events <= 0 or t.ratio_reference_events <= 0:
        raise ConfigError("[train] exact_events, ratio_block_events and ratio_reference_events "
                          "must be positive")
    lo, hi = (float(v) for v in d.prior_range)
    if not lo < float(t.ratio_reference) < hi:
        raise ConfigError(f"[train] ratio_reference = {t.ratio_reference} must lie inside "
                          f"[datasets] prior_range = [{lo}, {hi}]")
    return {"dc9": float(t.ratio_reference), "block": int(t.ratio_block_events),
            "blocks": max(1, math.ceil(t.exact_events / t.ratio_block_events)),
            "batch": int(t.exact_batch_size), "lr": float(t.ratio_learning_rate),
            "norm_events": int(t.ratio_reference_events), "prior": (lo, hi),
            "nodes": np.linspace(lo, hi, int(cfg.model.event_bins))}


def _norm_vector(chain: ChainInputs, blk: RatioBlock, dc9: float) -> tuple[np.ndarray, bool]:
    """Return R = E₀[(ℓ, q)] and whether it is exact (:func:`exact_norm`; else the mean)."""
    r = exact_norm(chain, dc9, _PARAMS)
    if r is not None:
        return r, True
    return np.asarray(blk.y, dtype=np.float64).mean(axis=0), False


def _in_t(lin: np.ndarray, quad: np.ndarray, t0: float, half: float) -> np.ndarray:
    """Return (A, B, C) of 1 + ℓ d + q d² written in t, d = half · (t − t₀); shape (n, 3)."""
    ql = np.asarray(quad) * half * half
    ll = np.asarray(lin) * half
    return np.stack([1.0 - ll * t0 + ql * t0 * t0, ll - 2.0 * ql * t0, ql], axis=-1)


def _z_quadratic(model: Any, info: dict[str, Any], spec: SetSpec, blocks: Any,
                 n_events: int, t0: float, half: float,
                 exact: np.ndarray | None) -> tuple[list[float], int]:
    """Return (A, B, C) of Z(t)/Z(t₀) = E₀[q_x(t)/q_x(t₀)] on reference events, and the count.

    With the exact R (generator level) the mean uses the exact weights as a control variate,
    Z = W_exact + mean(q/q₀ − w), whose spread is only the network's residual; else it is the
    plain mean.
    """
    coef = coefficient_model(model)
    if coef is None:
        raise ConfigError("event_exact needs the quadratic head ([model] event_head)")
    sums, count, b = np.zeros(3), 0, 0
    while count < n_events:
        blk = blocks(b)
        x = prepare_inputs(_features(blk, spec), info)
        raw = np.asarray(coef.predict(x, batch_size=65536, verbose=0), dtype=np.float64)
        a, bb, c = (v[:, 0] for v in quadratic_terms(raw))
        q0 = a + bb * t0 + c * t0 * t0
        terms = np.stack([a / q0, bb / q0, c / q0], axis=1)
        if exact is not None:
            y = np.asarray(blk.y, dtype=np.float64)
            terms = terms - _in_t(y[:, 0], y[:, 1], t0, half)
        sums += terms.sum(axis=0)
        count += x.shape[0]
        b += 1
    z = sums / count
    if exact is not None:
        z = z + _in_t(exact[0], exact[1], t0, half)
    return z.tolist(), count


def train_event_exact(cfg: Any, output: str | os.PathLike[str], *,
                      model_name: str = "event_exact", epochs: int | None = None,
                      backend: str | None = None, overwrite: bool = False,
                      verbose: int | str = 0) -> TrainResult:
    """Train the event classifier on exact soft targets of freshly streamed events and save it.

    Parameters
    ----------
    cfg : hepc9.config.Config
        ``[train] exact_events exact_batch_size ratio_*``, ``[datasets] prior_range
        set_features``, ``[model] exact_units event_bins`` (the quadratic head), and the event
        chain sections (generator level when ``[detector] enabled = false``).
    output : path
        Model folder.
    model_name : str
        Registry name recorded in ``model.json``.
    epochs : int, optional
        Number of training blocks instead of ``exact_events / ratio_block_events``.
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
    # the stored-set standardisation of a label-independent reference sample, recorded in the
    # dataset index like a streamed build's, so every prediction path builds the same inputs
    spec = dataset_spec(cfg.replace(datasets=dataclasses.replace(cfg.datasets, kind="sets")))
    assert isinstance(spec, SetSpec)
    features = tuple(spec.features)
    member = int(cfg.train.member)
    nodes = s["nodes"]
    t0 = time.perf_counter()

    block = block_drawer(cfg, chain, _STREAM, dc9=s["dc9"], params=_PARAMS, features=features,
                         background=with_bkg)

    stats = block(1, 0, s["block"])
    info = _info(cfg, model_name, spec, s)
    fx = _features(stats, spec)
    info["input_normalisation"] = feature_normalisation(fx[None], mask_padding=False,
                                                        limit=fx.shape[0])
    norm, norm_exact = _norm_vector(chain, stats, s["dc9"])
    keras.utils.set_random_seed(member_seed(cfg.seed, member))
    model_cfg = dataclasses.replace(cfg.model, event_head="quadratic",
                                    event_units=cfg.model.exact_units)
    model = build((len(features),), model_cfg, n_classes=nodes.size, nodes=nodes.tolist())
    # the targets' optimum W(θ_k) p(x | θ_k) is itself quadratic: the head's global Z is held
    # constant (Z(t) = 10 + 10⁻⁴ t² to 10⁻⁵), else q_x could trade a shared factor with it
    head = model.get_layer("logits")
    head.z.assign(np.array([10.0, 0.0, -30.0], dtype="float32"))
    head.trainable = False

    def train_xyw(b: int) -> tuple[np.ndarray, ...]:
        blk = stats if b == 0 else block(0, b, s["block"])
        t, w = soft_targets(blk, nodes, s["dc9"], norm)
        return prepare_inputs(_features(blk, spec), info), t, w

    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    losses = fit_network(model, train_xyw, s["blocks"], loss=loss, lr=s["lr"],
                         batch=s["batch"], verbose=0 if verbose == 0 else 2)
    cv = norm if norm_exact and not with_bkg else None
    zq, n_ref = _z_quadratic(model, info, spec,
                             lambda b: block(3, b, min(s["block"], s["norm_events"])),
                             s["norm_events"], float(normalised_theta(s["dc9"], nodes)),
                             0.5 * float(nodes[-1] - nodes[0]), cv)
    info["labels"]["z_quadratic"] = zq
    val = block(2, 0, s["block"])
    vt, vw = soft_targets(val, nodes, s["dc9"], norm)
    vx = prepare_inputs(_features(val, spec), info)
    logp = log_softmax(model.predict(vx, batch_size=65536, verbose=0), axis=1)
    ce = float(np.average(-(vt * logp).sum(axis=1), weights=vw))
    entropy = float(np.average(-(vt * np.log(np.maximum(vt, 1e-30))).sum(axis=1), weights=vw))
    seconds = time.perf_counter() - t0
    info["training"] = {"blocks": s["blocks"], "block_events": s["block"], "losses": losses,
                        "seconds": seconds, "loss": "soft-target crossentropy",
                        "stream": True, "labels": "exact per-event posteriors",
                        "reference_events": n_ref,
                        "normalisation": "control variate" if cv is not None else "mean",
                        "background_fraction": "fixed" if with_bkg else None}
    # the excess of the cross-entropy over the targets' own entropy is the KL divergence of
    # the learned posteriors from the exact ones (0 for a perfect network)
    info["validation"] = {"n": int(vt.shape[0]), "crossentropy": ce, "target_entropy": entropy,
                          "excess": ce - entropy}
    save_model(model, out, info, overwrite=True)
    write_json(out / "history.json",
               {"epochs": [{"epoch": i, "loss": lo} for i, lo in enumerate(losses)]})
    return TrainResult(output=str(out), model=model_name, epochs_run=s["blocks"],
                       best_epoch=s["blocks"] - 1, best_val_loss=ce,
                       validation={"crossentropy": ce, "excess": ce - entropy,
                                   "n": int(vt.shape[0])}, backend=used)


def _info(cfg: Any, name: str, spec: SetSpec, s: dict[str, Any]) -> dict[str, Any]:
    m = int(cfg.datasets.events_per_image)
    lo, hi = s["prior"]
    features = list(spec.features)
    info = base_info(cfg, name=name, builder="hepc9.models.event_classifier:build",
                     item_kind="sets", item_shape=(m, len(features)),
                     input_shape=(len(features),),
                     dataset_index={"kind": "sets", "features": features, "events_per_item": m,
                                    "standardisation": spec.to_dict()})
    info["model_config"].update(event_units=list(cfg.model.exact_units), event_head="quadratic")
    info.update(events_per_set=m, features=features,
                labels={"kind": "grid", "grid": [float(v) for v in s["nodes"]], "binned": True,
                        "prior": {"low": lo, "high": hi}})
    return info
