"""Pseudo-experiments for evaluation: the same events for every estimator.

A pseudo-experiment is a set of N events at a true δC9, drawn from its own random stream
``("evaluate", level, N, truth index, chunk)``.  Every estimator (the likelihood fit in worker
processes, the neural networks in the main process) regenerates the events it needs from these
keys, so all of them see exactly the same events without storing them, and a chunk computed on
any executor is bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.config import Config, load_config
from hepc9.seeding import seed_sequence

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
    config : dict
        Resolved configuration as plain data.
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
    """

    config: dict[str, Any]
    level: str
    n_events: int
    truth: float
    truth_index: int
    chunk: int
    n_sets: int
    run_dir: str = ""


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
    plain = cfg.to_dict()
    specs = []
    for ti, t in enumerate(truths):
        for c, start in enumerate(range(0, n_sets, SETS_PER_CHUNK)):
            specs.append(SetChunk(plain, level, int(n_events), float(t), ti, c,
                                  min(SETS_PER_CHUNK, n_sets - start), str(run_dir)))
    return specs


def generate_sets(spec: SetChunk, cfg: Config | None = None) -> list[dict[str, np.ndarray]]:
    """Draw the event sets of one chunk.

    Parameters
    ----------
    spec : SetChunk
        Chunk specification.
    cfg : Config, optional
        The resolved configuration (re-read from ``spec.config`` when omitted).

    Returns
    -------
    list of events dict
        ``spec.n_sets`` sets of ``spec.n_events`` events each.
    """
    from hepc9.generate.sampler import sample_events
    from hepc9.physics.constants import WilsonShifts, model_constants

    cfg = cfg or load_config(data=spec.config)
    g = cfg.generate
    constants = model_constants(cfg.physics.constants)
    truth = WilsonShifts(dc7=g.dc7, dc9=spec.truth, dc10=g.dc10, c7p=g.c7p, c9p=g.c9p,
                         c10p=g.c10p)
    ss = seed_sequence(cfg.seed, "evaluate", LEVELS[spec.level], spec.n_events,
                       spec.truth_index, spec.chunk)
    if spec.level == "gen":
        total = spec.n_sets * spec.n_events
        ev = sample_events(total, seed=ss, shifts=truth, constants=constants,
                           q2_range=_window(cfg), flavour=g.flavour, line_shape=g.line_shape,
                           chunk_size=g.chunk_size, threads=1, grid_points=g.q2_grid_points)
        return [{k: v[i * spec.n_events:(i + 1) * spec.n_events] for k, v in ev.items()}
                for i in range(spec.n_sets)]
    from hepc9.pipeline.detector_sets import detector_level_sets

    return detector_level_sets(cfg, ss, truth=truth, constants=constants,
                               n_sets=spec.n_sets, n_events=spec.n_events)


def _window(cfg: Config) -> tuple[float, float] | None:
    from hepc9.pipeline.generate import generator_inputs

    return generator_inputs(cfg)["q2_range"]


def run_fit_chunk(spec: SetChunk) -> dict[str, list[float]]:
    """Fit δC9 in every set of one chunk (a top-level function, so executors can pickle it).

    Parameters
    ----------
    spec : SetChunk
        Chunk specification.

    Returns
    -------
    dict
        Lists ``value``, ``error``, ``lower``, ``upper`` (MINOS interval or ±HESSE), ``valid``.
    """
    import warnings

    from hepc9.errors import DroppedRowsWarning, FitNotConvergedWarning
    from hepc9.fit.likelihood import fit_events

    cfg = load_config(data=spec.config)
    sets = generate_sets(spec, cfg)
    out: dict[str, list[float]] = {"value": [], "error": [], "lower": [], "upper": [],
                                   "valid": []}
    fit_kw = _fit_options(cfg, spec)
    for events in sets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitNotConvergedWarning)  # recorded as valid=False
            warnings.simplefilter("ignore", DroppedRowsWarning)  # detector level: counted
            res = fit_events(events, free=("dc9",), q2_range=_window(cfg),
                             minos=cfg.evaluate.minos, **fit_kw)
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
    return out


def _fit_options(cfg: Config, spec: SetChunk) -> dict[str, Any]:
    if spec.level == "gen":
        return {}
    from hepc9.pipeline.detector_sets import detector_fit_options

    return detector_fit_options(cfg, spec.run_dir)
