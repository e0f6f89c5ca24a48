"""Pseudo-experiments for evaluation: the same events for every estimator.

A pseudo-experiment is a set of N events at a true δC9, drawn from its own random stream
``("evaluate", level, N, truth index, chunk)``.  Every estimator (the likelihood fit in worker
processes, the neural networks in the main process) regenerates the events it needs from these
keys, so all of them see exactly the same events without storing them, and a chunk computed on
any executor is bit-identical.

The events come from the one event chain (:class:`hepc9.simulation.EventFactory`): a chunk
carries its frozen :class:`hepc9.simulation.ChainInputs` (no serialised configuration), so a
generator-level set is ``sample_events`` cut into sets and a detector-level set is an item of
the same chain that makes the detector-level training data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.config import Config
from hepc9.errors import DroppedRowsWarning, FitNotConvergedWarning
from hepc9.fit.likelihood import fit_events
from hepc9.pipeline.detector_sets import detector_fit_options
from hepc9.seeding import seed_sequence
from hepc9.simulation import ChainInputs, EventFactory, item_sets

__all__ = ["LEVELS", "SetChunk", "chunk_specs", "generate_sets", "run_fit_chunk"]

#: Level names → spawn-key entries.
LEVELS = {"gen": 0, "det": 1}

#: Pseudo-experiments per chunk (a unit of work and of random streams).
SETS_PER_CHUNK = 25


@dataclass(frozen=True, slots=True)
class SetChunk:
    """One chunk of pseudo-experiments (picklable; carries everything a worker needs).

    Attributes
    ----------
    chain : ChainInputs
        Frozen event-chain inputs (generator, detector, background, selection; events per
        set), built from the configuration once.
    seed : int
        Master seed.
    level : str
        ``gen`` or ``det``.
    n_events : int
        Events per set.
    truth : float
        True δC9.
    truth_index : int
        Index of ``truth`` in the run's truth list (part of the spawn key).
    chunk : int
        Chunk index (part of the spawn key).
    n_sets : int
        Sets in this chunk.
    run_dir : str
        Run directory (detector-level fits read the ``detector`` stage's outputs there).
    minos : bool
        Run MINOS in the fits (``[evaluate] minos``).
    fit_config : Config or None
        Detector level: the configuration the detector stage's acceptance sample and
        background template are read with (the frozen object itself, not a copy).
    """

    chain: ChainInputs
    seed: int
    level: str
    n_events: int
    truth: float
    truth_index: int
    chunk: int
    n_sets: int
    run_dir: str = ""
    minos: bool = False
    fit_config: Config | None = None


def chunk_specs(
    cfg: Config, *, level: str, n_events: int, truths: Sequence[float], n_sets: int,
    run_dir: str = "",
) -> list[SetChunk]:
    """Cut the pseudo-experiments of one (level, N) into chunks for all truths.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    level : str
        ``gen`` or ``det``.
    n_events : int
        Events per set.
    truths : sequence of float
        True δC9 values.
    n_sets : int
        Sets per truth.
    run_dir : str
        Run directory (needed at detector level).

    Returns
    -------
    list of SetChunk
    """
    chain = ChainInputs.from_config(cfg, level=level, events_per_item=int(n_events), threads=1)
    fit_config = cfg if level == "det" else None
    specs = []
    for ti, t in enumerate(truths):
        for c, start in enumerate(range(0, n_sets, SETS_PER_CHUNK)):
            specs.append(SetChunk(chain, int(cfg.seed), level, int(n_events), float(t), ti, c,
                                  min(SETS_PER_CHUNK, n_sets - start), str(run_dir),
                                  bool(cfg.evaluate.minos), fit_config))
    return specs


def generate_sets(spec: SetChunk) -> list[dict[str, np.ndarray]]:
    """Draw the event sets of one chunk.

    Parameters
    ----------
    spec : SetChunk
        Chunk specification (its chain inputs and seed define the events).

    Returns
    -------
    list of events dict
        ``spec.n_sets`` sets of ``spec.n_events`` events each.
    """
    ss = seed_sequence(spec.seed, "evaluate", LEVELS[spec.level], spec.n_events,
                       spec.truth_index, spec.chunk)
    events = EventFactory(spec.chain).draw(ss, spec.truth, spec.n_sets)
    return item_sets(events, spec.n_sets)


def run_fit_chunk(spec: SetChunk) -> dict[str, list[float]]:
    """Fit δC9 in every set of one chunk (a top-level function, so executors can pickle it).

    Parameters
    ----------
    spec : SetChunk
        Chunk specification.

    Returns
    -------
    dict
        Lists ``value``, ``error``, ``lower``, ``upper`` (MINOS interval or ±HESSE), ``valid``;
        at detector level also ``common_error``, the template ⊕ efficiency error component of
        the chunk's first set (shared by every set of the ensemble).
    """
    sets = generate_sets(spec)
    out: dict[str, list[float]] = {"value": [], "error": [], "lower": [], "upper": [],
                                   "valid": []}
    fit_kw = _fit_options(spec)
    for events in sets:
        res = _fit_set(spec, events, fit_kw)
        v, e = res.values["dc9"], res.errors["dc9"]
        if res.minos is not None and "dc9" in res.minos:
            lo, hi = res.interval("dc9")
        else:
            lo, hi = v - e, v + e
        out["value"].append(float(v))
        out["error"].append(float(e))
        out["lower"].append(float(lo))
        out["upper"].append(float(hi))
        out["valid"].append(float(res.valid))
    if "acceptance" in fit_kw and sets:
        # the efficiency sample and the template serve every set: their components, evaluated
        # on this chunk's first set, are an error common to the whole ensemble
        kw = {**fit_kw, "efficiency_error": "linear"}
        comp = _fit_set(spec, sets[0], kw, minos=False).error_components
        common = math.hypot(comp["template"].get("dc9", 0.0), comp["efficiency"].get("dc9", 0.0))
        out["common_error"] = [common] * len(sets)
    return out


def _fit_set(spec: SetChunk, events: dict[str, np.ndarray], fit_kw: dict[str, Any],
             minos: bool | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitNotConvergedWarning)  # recorded as valid=False
        warnings.simplefilter("ignore", DroppedRowsWarning)  # detector level: counted
        return fit_events(events, free=("dc9",), q2_range=spec.chain.sample.q2_range,
                          minos=spec.minos if minos is None else minos, **fit_kw)


def _fit_options(spec: SetChunk) -> dict[str, Any]:
    if spec.level == "gen" or spec.fit_config is None:
        return {}
    return detector_fit_options(spec.fit_config, spec.run_dir)
