"""The event factory: items (images or sets worth of events) at a δC9 point.

Random streams: the items of one call draw from the stream ``ss`` of their chunk; round
``j`` of the signal top-up draws generator-level events from ``ss/(0, j)``, their lab
four-vectors from ``ss/(1, j)`` and the detector response from ``ss/(2, j)``; background block
``j`` draws its candidates from ``ss/(3, j)`` and their track selection from ``ss/(4, j)``.
Generator level: the events are ``sample_events(n_items · M, seed=ss, ...)`` cut into
consecutive items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepc9.config import Config
from hepc9.errors import ConfigError
from hepc9.kinematics import BELLE2
from hepc9.physics.constants import WilsonShifts
from hepc9.simulation.background_blocks import (
    BackgroundBlock,
    background_block,
    selectable_region,
)
from hepc9.simulation.columns import DETECTOR_COLUMNS, GENERATOR_COLUMNS, concat, take
from hepc9.simulation.inputs import ChainInputs, SampleInputs
from hepc9.simulation.reconstruction import reconstruct
from hepc9.simulation.streams import child, generator
from hepc9.simulation.topup import stop_after, top_up, top_up_each

__all__ = [
    "ChunkEvents",
    "EventFactory",
    "detector_signal",
    "detector_signal_items",
    "item_sets",
    "signal_region_background",
]

_SIGNAL_ROUNDS = 64
_SIGNAL_SHORT = ("the detector simulation and selection keep too few events ({have} of {need} "
                 "wanted after {rounds} rounds); check [detector] and [selection]")


def detector_signal(chain: ChainInputs, sample: SampleInputs, ss: np.random.SeedSequence,
                    n: int) -> dict[str, np.ndarray]:
    """Return the first ``n`` reconstructed signal events in the signal region.

    Parameters
    ----------
    chain : ChainInputs
        Chain inputs (detector and selection settings).
    sample : SampleInputs
        Generator inputs at the item's point.
    ss : numpy.random.SeedSequence
        The chunk's stream (sub-streams ``(0|1|2, j)``).
    n : int
        Events wanted.

    Returns
    -------
    dict of str to ndarray
        :data:`DETECTOR_COLUMNS`, ``(n,)`` each.
    """
    detector = chain.detector
    if detector is None:
        raise ConfigError("detector-level signal needs chain inputs with a detector")
    parts: list[dict[str, np.ndarray]] = []

    def draw(j: int, n_try: int, have: int) -> int:
        ev = sample.sample(n_try, child(ss, 0, j))
        det, reg, _ = reconstruct(ev, detector=detector, selection=chain.selection,
                                  rng=generator(child(ss, 2, j)), constants=sample.constants,
                                  four_rng=generator(child(ss, 1, j)), beam=BELLE2)
        parts.append(take(det, reg.signal, DETECTOR_COLUMNS))
        return int(reg.signal.sum())

    top_up(draw, n, first_rate=0.5, min_rate=0.02, max_rounds=_SIGNAL_ROUNDS,
           error=_SIGNAL_SHORT)
    if not parts:  # nothing wanted
        return {k: np.empty(0) for k in DETECTOR_COLUMNS}
    return {k: v[:n] for k, v in concat(parts).items()}


def detector_signal_items(chain: ChainInputs, samples: list[SampleInputs],
                          ss: np.random.SeedSequence, n: int) -> list[dict[str, np.ndarray]]:
    """Return the first ``n`` reconstructed signal-region events of items at several points.

    The same recipe as :func:`detector_signal`, for one item per entry of ``samples`` (each
    at its own δC9) with one detector call per round for all of them: the response and the
    selection do not depend on the point, so the per-call costs are paid once per round, not
    once per item.  Round ``j`` draws item ``i``'s generator-level events from
    ``ss/(0, j, i)``, and the lab four-vectors and the detector response of the round from
    ``ss/(1, j)`` and ``ss/(2, j)``; an item stops drawing once it holds ``n`` events.

    Parameters
    ----------
    chain : ChainInputs
        Chain inputs (detector and selection settings).
    samples : list of SampleInputs
        Generator inputs of each item.
    ss : numpy.random.SeedSequence
        The batch's stream.
    n : int
        Events wanted per item.

    Returns
    -------
    list of dict of str to ndarray
        Per item :data:`DETECTOR_COLUMNS`, ``(n,)`` each.
    """
    detector = chain.detector
    if detector is None:
        raise ConfigError("detector-level signal needs chain inputs with a detector")
    parts: list[list[dict[str, np.ndarray]]] = [[] for _ in samples]

    def draw(j: int, n_try: np.ndarray, have: np.ndarray) -> np.ndarray:
        short = np.flatnonzero(n_try)
        ev = concat([samples[i].sample(int(n_try[i]), child(ss, 0, j, int(i))) for i in short])
        det, reg, _ = reconstruct(ev, detector=detector, selection=chain.selection,
                                  rng=generator(child(ss, 2, j)),
                                  constants=samples[0].constants,
                                  four_rng=generator(child(ss, 1, j)), beam=BELLE2)
        edges = np.concatenate([[0], np.cumsum(n_try[short])])
        kept = np.zeros(len(samples), dtype=np.int64)
        for pos, i in enumerate(short):
            sel = np.flatnonzero(reg.signal[edges[pos]:edges[pos + 1]]) + edges[pos]
            parts[i].append(take(det, sel, DETECTOR_COLUMNS))
            kept[i] = sel.size
        return kept

    top_up_each(draw, [n] * len(samples), first_rate=0.5, min_rate=0.02,
                max_rounds=_SIGNAL_ROUNDS, error=_SIGNAL_SHORT)
    return [{k: v[:n] for k, v in concat(p).items()} if p
            else {c: np.empty(0) for c in DETECTOR_COLUMNS} for p in parts]


def signal_region_background(
    chain: ChainInputs, ss: np.random.SeedSequence, n_items: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Return each item's signal-region background and the sideband events drawn with it.

    Item ``b`` owns the background stream up to (and including) its ``(b + 1) · n_bkg``-th
    accepted signal-region candidate; the stream stops there.

    Parameters
    ----------
    chain : ChainInputs
        Chain inputs with background.
    ss : numpy.random.SeedSequence
        The chunk's stream (sub-streams ``(3|4, j)``).
    n_items : int
        Items.

    Returns
    -------
    signal_region : dict of str to ndarray
        ``n_items · n_bkg`` candidates, item after item.
    sideband : dict of str to ndarray
        The accepted sideband candidates, item after item.
    offsets : ndarray
        ``(n_items + 1,)`` int64 item boundaries in ``sideband``.
    scale : ndarray
        ``(n_items,)`` ``n_bkg / n_sideband`` (1 for an empty sideband).
    """
    background, detector = chain.background, chain.detector
    if background is None or detector is None:
        raise ConfigError("background items need chain inputs with detector and background")
    # items need a number of region candidates, not a yield: draw only where ΔE can be kept
    background = selectable_region(background, chain.selection)
    _, n_bkg = chain.split
    need = n_items * n_bkg
    blocks: list[BackgroundBlock] = []

    def draw(j: int, n_try: int, have: int) -> int:
        block = background_block(
            n_try, background=background, detector=detector,
            selection=chain.selection, rng=generator(child(ss, 3, j)),
            accept_rng=generator(child(ss, 4, j)), constants=chain.sample.constants,
            beam=BELLE2,
        )
        block = block.head(stop_after(np.cumsum(block.regions.signal), have, need, block.size))
        blocks.append(block)
        return int(block.regions.signal.sum())

    top_up(draw, need, first_rate=0.05, min_rate=1e-3, max_rounds=64,
           error="the background shapes put too few events into the signal region ({have} "
                 "of {need} after {rounds} rounds)")
    keep = [b.regions.candidates for b in blocks]
    allev = concat([take(b.events, k, DETECTOR_COLUMNS) for b, k in zip(blocks, keep, strict=True)])
    is_sr = np.concatenate([b.regions.signal[k] for b, k in zip(blocks, keep, strict=True)])
    cum = np.cumsum(is_sr)
    ends = np.searchsorted(cum, np.arange(1, n_items + 1) * n_bkg) + 1
    starts = np.concatenate([[0], ends[:-1]])
    sr_idx = np.flatnonzero(is_sr)[:need]
    sb_counts = np.array(
        [int((~is_sr[s:e]).sum()) for s, e in zip(starts, ends, strict=True)], np.int64
    )
    sb_idx = np.concatenate(
        [np.flatnonzero(~is_sr[s:e]) + s for s, e in zip(starts, ends, strict=True)]
    ).astype(np.int64)
    sr_ev = {k: v[sr_idx] for k, v in allev.items()}
    sb_ev = {k: v[sb_idx] for k, v in allev.items()}
    offsets = np.concatenate([[0], np.cumsum(sb_counts)]).astype(np.int64)
    scale = np.where(sb_counts > 0, n_bkg / np.maximum(sb_counts, 1), 1.0)
    return sr_ev, sb_ev, offsets, scale


@dataclass
class ChunkEvents:
    """Events of one chunk: ``signal`` holds ``count · M`` events, item after item.

    At detector level with background, each item's M events are its signal events followed
    by its signal-region background; ``background`` holds the sideband candidates, cut into
    items by ``background_offsets`` and scaled to the item's background yield by
    ``background_scale``.
    """

    signal: dict[str, np.ndarray]
    background: dict[str, np.ndarray] | None = None
    background_offsets: np.ndarray | None = None
    background_scale: np.ndarray | None = None


class EventFactory:
    """Draws the events of a chunk (generator or detector level, optional background).

    Parameters
    ----------
    cfg : Config or ChainInputs
        Resolved configuration (``[generate] [physics] [detector] [background] [selection]
        [datasets]``), or ready chain inputs (then no dataset-channel check is made).
    """

    def __init__(self, cfg: Config | ChainInputs) -> None:
        if isinstance(cfg, ChainInputs):
            self.cfg: Config | None = None
            self.chain = cfg
        else:
            self.cfg = cfg
            self.chain = ChainInputs.from_config(cfg)
            uses_bkg = any(c.startswith("background") for c in cfg.datasets.channels)
            if cfg.datasets.kind == "images" and uses_bkg and self.chain.background is None:
                raise ConfigError(
                    "the background image channels need [background] enabled = true and "
                    "[detector] enabled = true"
                )
        c = self.chain
        self.constants = c.sample.constants
        self.base_shifts: WilsonShifts = c.sample.shifts.with_(dc9=0.0)
        self.q2_range = c.sample.q2_range
        self.detector = c.detector is not None
        self.background = c.background is not None
        self.n_sig, self.n_bkg = c.split

    def sample(self, n: int, ss: np.random.SeedSequence, label: float) -> dict[str, np.ndarray]:
        """Generator-level events at δC9 = ``label`` from the stream ``ss``."""
        return self.chain.sample.at(label).sample(n, ss)

    def _detector_signal(self, n: int, ss: np.random.SeedSequence,
                         label: float) -> dict[str, np.ndarray]:
        return detector_signal(self.chain, self.chain.sample.at(label), ss, n)

    def draw(self, ss: np.random.SeedSequence, label: float, n_items: int) -> ChunkEvents:
        """Return the events of ``n_items`` items at δC9 = ``label``.

        Parameters
        ----------
        ss : numpy.random.SeedSequence
            The chunk's stream; sub-streams are its children with fixed keys.
        label : float
            δC9.
        n_items : int
            Number of images or sets.

        Returns
        -------
        ChunkEvents
        """
        return self.draw_at(self.chain.sample.at(label), ss, n_items)

    def draw_at(self, sample: SampleInputs, ss: np.random.SeedSequence,
                n_items: int) -> ChunkEvents:
        """Return the events of ``n_items`` items at the point of ``sample``."""
        m = self.chain.events_per_item
        if not self.detector:
            ev = sample.sample(n_items * m, ss)
            return ChunkEvents({k: ev[k] for k in GENERATOR_COLUMNS})
        sig = detector_signal(self.chain, sample, ss, n_items * self.n_sig)
        if not self.background or self.n_bkg == 0:
            return ChunkEvents(sig)
        sr, sb, offsets, scale = signal_region_background(self.chain, ss, n_items)
        mixed = {
            k: np.concatenate(
                [sig[k].reshape(n_items, self.n_sig), sr[k].reshape(n_items, self.n_bkg)], axis=1
            ).reshape(-1)
            for k in DETECTOR_COLUMNS
        }
        return ChunkEvents(mixed, sb, offsets, scale)


    def draw_items(self, ss: np.random.SeedSequence, labels: np.ndarray) -> list[ChunkEvents]:
        """Return one item per label (each at its own δC9), drawn together.

        Generator level: item ``i`` is ``draw(ss/(1 + i), labels[i], 1)``.  At detector level
        the signal of all items comes from :func:`detector_signal_items` (stream ``ss/(0,)``)
        and their background from one :func:`signal_region_background` call (stream
        ``ss/(1,)``), so per-call costs are paid once per batch.

        Parameters
        ----------
        ss : numpy.random.SeedSequence
            The batch's stream.
        labels : ndarray, shape (k,)
            δC9 of each item.

        Returns
        -------
        list of ChunkEvents
            One single-item chunk per label; with background the items share the sideband
            arrays and hold their own offsets and scale.
        """
        labels = np.asarray(labels, dtype=np.float64)
        if not self.detector:
            return [self.draw(child(ss, 1 + i), float(y), 1) for i, y in enumerate(labels)]
        samples = [self.chain.sample.at(float(y)) for y in labels]
        sig = detector_signal_items(self.chain, samples, child(ss, 0), self.n_sig)
        if not self.background or self.n_bkg == 0:
            return [ChunkEvents(s) for s in sig]
        sr, sb, offsets, scale = signal_region_background(self.chain, child(ss, 1), len(labels))
        out = []
        for i, s in enumerate(sig):
            mixed = {k: np.concatenate([s[k], sr[k][i * self.n_bkg:(i + 1) * self.n_bkg]])
                     for k in DETECTOR_COLUMNS}
            out.append(ChunkEvents(mixed, sb, offsets[i:i + 2], scale[i:i + 1]))
        return out


def item_sets(events: ChunkEvents, n_items: int) -> list[dict[str, np.ndarray]]:
    """Cut the events of a chunk into its ``n_items`` items (pseudo-experiments).

    Parameters
    ----------
    events : ChunkEvents
        Events of ``n_items`` items.
    n_items : int
        Items in the chunk.

    Returns
    -------
    list of dict of str to ndarray
        One events dict per item, in order.
    """
    n_total = len(events.signal["q2"])
    m = n_total // n_items if n_items else 0
    return [{k: v[i * m:(i + 1) * m] for k, v in events.signal.items()} for i in range(n_items)]
