"""Training blocks of the ``ratio`` estimator: reference events, exact targets, background.

A block holds signal events drawn at the reference point θ₀ from the one event chain
(:mod:`hepc9.simulation`) — generator-level events, or at detector level the reconstructed
signal-region signal with the true kinematics the detector keeps beside each survivor — and
their exact coefficient vectors; with background also the features of the background
candidates of the reference mixture (signal region and Mbc sideband, see
:mod:`hepc9.train.ratio`).  Inside a block's stream, children ``(0|1|2, 0)`` draw the signal,
``(5, r)`` background round r and ``(6, 0)`` the choice of the background candidates kept.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hepc9.datasets.sets import DEFAULT_FEATURES, feature_matrix
from hepc9.errors import ConfigError
from hepc9.kinematics import BELLE2
from hepc9.models.ratio import coefficient_vector
from hepc9.physics.quadratic import normalisation_matrix, quadratic_coefficients
from hepc9.seeding import seed_sequence
from hepc9.simulation import (
    ChainInputs,
    child,
    generator,
    reconstruct,
    signal_region_background,
)

__all__ = ["RatioBlock", "block_drawer", "draw_block", "exact_norm", "reference_sample"]


@dataclasses.dataclass
class RatioBlock:
    """One block of reference events and their exact targets.

    ``x`` (n, F) raw observed features of the signal, ``y`` (n, K) their exact coefficients;
    with background ``xb`` (m, F) the features of m = round(n f_t / (1 − f_t)) background
    candidates, so that signal and background form the reference mixture.
    """

    x: np.ndarray
    y: np.ndarray
    xb: np.ndarray | None = None

    def mixture(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the mixture's features and joint targets ``(1_sig c, 1_sig)``, (n + m, K + 1)."""
        if self.xb is None:
            raise ConfigError("this block has no background")
        k = self.y.shape[1]
        t = np.concatenate([np.concatenate([self.y, np.ones((len(self.y), 1))], axis=1),
                            np.zeros((len(self.xb), k + 1))])
        return np.concatenate([self.x, self.xb]), t


def reference_sample(chain: ChainInputs, dc9: float) -> Any:
    """Return the generator inputs at the reference point (δC9 = ``dc9``)."""
    return chain.sample.at(dc9)


def exact_norm(chain: ChainInputs, dc9: float, params: tuple[str, ...]) -> np.ndarray | None:
    """Return E₀[c_true], the exact mean coefficient vector at the reference point, or ``None``.

    Exact at generator level with a narrow K* (the q² integral of the normalisation matrix);
    ``None`` with a detector or a K* line shape, where only a sample mean is available.
    """
    if chain.detector is not None or chain.sample.line_shape != "narrow":
        return None
    sample = reference_sample(chain, dc9)
    big = normalisation_matrix(params=params, at=sample.shifts, constants=sample.constants,
                               q2_range=sample.q2_range)
    return coefficient_vector(big[None])[0]


def _truth_coefficients(ev: dict[str, np.ndarray], sample: Any,
                        params: tuple[str, ...]) -> np.ndarray:
    mkpi = ev.get("mkpi") if sample.line_shape != "narrow" else None
    m = quadratic_coefficients(ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"],
                               params=params, at=sample.shifts, constants=sample.constants,
                               mkpi=mkpi)
    return coefficient_vector(m)


def draw_block(chain: ChainInputs, ss: np.random.SeedSequence, n: int, *, dc9: float,
               params: tuple[str, ...], features: tuple[str, ...] = DEFAULT_FEATURES,
               background: bool = False) -> RatioBlock:
    """Draw ``n`` reference events (about ``n`` accepted at detector level) with targets.

    Parameters
    ----------
    chain : ChainInputs
        The event chain (generator level without a detector).
    ss : numpy.random.SeedSequence
        The block's stream (children ``(0|1|2, 0)`` signal, ``(5, r)`` background).
    n : int
        Generated events (generator level) or events tried (detector level).
    dc9 : float
        Reference δC9.
    params : tuple of str
        Shifts of the quadratic form.
    features : tuple of str
        Observed per-event features.
    background : bool
        Also draw the mixture's background (needs a chain with background).

    Returns
    -------
    RatioBlock
    """
    sample = reference_sample(chain, dc9)
    ev = sample.sample(int(n), child(ss, 0, 0))
    if chain.detector is None:
        return RatioBlock(feature_matrix(ev, features), _truth_coefficients(ev, sample, params))
    det, reg, _ = reconstruct(ev, detector=chain.detector, selection=chain.selection,
                              rng=generator(child(ss, 2, 0)), constants=sample.constants,
                              four_rng=generator(child(ss, 1, 0)), beam=BELLE2)
    keep = reg.signal
    # the detector keeps a ``<name>_true`` copy of the true kinematics of every survivor
    truth = {k: np.asarray(det[f"{k}_true"])[keep] for k in ("q2", "costheta_l",
                                                            "costheta_k", "chi", "mkpi")}
    obs: dict[str, np.ndarray] = {k: np.asarray(det[k])[keep] for k in (
        "q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour") if k in det}
    block = RatioBlock(feature_matrix(obs, features), _truth_coefficients(truth, sample, params))
    if background:
        f = float(chain.background_fraction)
        block.xb = _background_pool(chain, ss, round(block.x.shape[0] * f / (1.0 - f)), features)
    return block


def block_drawer(cfg: Any, chain: ChainInputs, stream: int, *, dc9: float,
                 params: tuple[str, ...], features: tuple[str, ...],
                 background: bool) -> Callable[[int, int, int], RatioBlock]:
    """Return ``block(part, b, n)``, the :func:`draw_block` of ``n`` reference events.

    Block ``b`` of ``part`` draws from ``seed_sequence(cfg.seed, "train", stream, member,
    part, b)`` (``member`` = ``[train] member``).
    """
    member = int(cfg.train.member)

    def block(part: int, b: int, n: int) -> RatioBlock:
        ss = seed_sequence(cfg.seed, "train", stream, member, part, b)
        return draw_block(chain, ss, n, dc9=dc9, params=params, features=features,
                          background=background)

    return block


def _background_pool(chain: ChainInputs, ss: np.random.SeedSequence, n: int,
                     features: tuple[str, ...]) -> np.ndarray:
    """Return ``n`` background candidates' features from the signal region and the sideband."""
    f = float(chain.background_fraction)
    parts: list[np.ndarray] = []
    have, r = 0, 0
    while have < n:
        if r >= 64:
            raise ConfigError("the background shapes put too few candidates into the signal "
                              "region and sideband for the ratio training")
        # about five sideband candidates per signal-region one (default shapes); top up after
        want_sr = max(1, math.ceil((n - have) / 6))
        item = dataclasses.replace(chain, events_per_item=max(2, round(want_sr / f)))
        sr, sb, _, _ = signal_region_background(item, child(ss, 5, r), 1)
        x = np.concatenate([feature_matrix(sr, features), feature_matrix(sb, features)])
        parts.append(x)
        have += len(x)
        r += 1
    pool = np.concatenate(parts)
    keep = np.sort(generator(child(ss, 6, 0)).permutation(len(pool))[:n])
    return pool[keep]
