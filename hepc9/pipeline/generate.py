"""Generate stage: sample the 4D rate at one Wilson-coefficient point into a native ROOT file."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.artifacts import check_target
from hepc9.config import Config
from hepc9.errors import Hepc9Error, OutputExistsError
from hepc9.generate import iter_sample_events, lab_four_vectors
from hepc9.rootio.native import make_meta, write_events
from hepc9.seeding import seed_sequence, spawn_key
from hepc9.simulation import SampleInputs

__all__ = [
    "check_output_path",
    "generate_file",
    "generator_inputs",
    "iter_generated_blocks",
    "prefetched",
]

log = logging.getLogger(__name__)

#: Chunks per block: a block is generated, written and released before the next one, so the
#: memory use is bounded whatever the number of events.  Part of the random-stream definition.
CHUNKS_PER_BLOCK = 16


def check_output_path(path: str | Path, *, overwrite: bool) -> Path:
    """Fail early (before any work) when ``path`` cannot be written.

    Parameters
    ----------
    path : str or Path
        Output file.
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    Path
    """
    p = Path(path)
    if p.is_dir():
        raise Hepc9Error(f"output {p} is a folder; give a file name such as {p / 'events.root'}")
    if p.exists() and not overwrite:
        raise OutputExistsError(f"output {p} exists; pass --overwrite to replace it")
    check_target(p, overwrite)  # FIFOs, devices, dangling links: refused before any work
    folder = p.parent if str(p.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise Hepc9Error(f"output folder {folder} is a file, not a folder; choose another path")
    if not folder.is_dir():
        raise Hepc9Error(f"output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise Hepc9Error(f"output folder {folder} is not writable")
    return p


def generator_inputs(cfg: Config) -> dict[str, Any]:
    """Return the physics inputs of the generate section: shifts, constants and q² window.

    A view of :class:`hepc9.simulation.SampleInputs` (the q² rule is
    :func:`hepc9.simulation.q2_window`).

    Parameters
    ----------
    cfg : Config
        Resolved configuration.

    Returns
    -------
    dict
        ``shifts`` (WilsonShifts), ``constants`` (ModelConstants), ``q2_range`` (tuple or None).
    """
    sample = SampleInputs.from_config(cfg)
    return {"shifts": sample.shifts, "constants": sample.constants, "q2_range": sample.q2_range}


def iter_generated_blocks(
    cfg: Config, *, n_events: int | None = None, stream: tuple[int, ...] = ()
) -> Iterator[dict[str, np.ndarray]]:
    """Yield the generated events in order, piece by piece (bounded memory).

    Block ``b`` of ``chunk_size · CHUNKS_PER_BLOCK`` events draws from the stream
    ``seed_sequence(seed, "generate", *stream, b)``.  Without four-vectors a block is yielded
    chunk by chunk as the sampler threads finish them (:func:`hepc9.generate.iter_sample_events`),
    so that the consumer overlaps with the sampling; with four-vectors a block is yielded
    whole (its lab-frame boost draws from one generator per block).  The concatenation of the
    pieces does not depend on this.

    Parameters
    ----------
    cfg : Config
        Resolved configuration (``[generate]`` and ``[physics]`` are used).
    n_events : int, optional
        Number of events; default ``cfg.generate.events``.
    stream : tuple of int
        Extra spawn-key entries after the stage number, e.g. a label index, so that several
        samples of one run draw from independent streams.

    Yields
    ------
    dict of str to numpy.ndarray
        Native event columns of consecutive events (plus lab four-vectors when configured).
    """
    g = cfg.generate
    sample = SampleInputs.from_config(cfg)
    n_total = g.events if n_events is None else int(n_events)
    block = g.chunk_size * CHUNKS_PER_BLOCK
    n_blocks = -(-n_total // block)
    for b in range(n_blocks):
        n = min(block, n_total - b * block)
        ss = seed_sequence(cfg.seed, "generate", *stream, b)
        if not g.four_vectors:
            yield from iter_sample_events(n, seed=ss, **sample.sample_kwargs())
            continue
        events = sample.sample(n, ss)
        four_rng = np.random.Generator(
            np.random.PCG64(seed_sequence(cfg.seed, "generate", *stream, b, 1 << 20))
        )
        events.update(lab_four_vectors(events, rng=four_rng, constants=sample.constants))
        yield events


def prefetched(items: Iterator[Any], *, alive: int = 2) -> Iterator[Any]:
    """Yield the items of ``items``, computing the next ones in a background thread.

    The producer thread runs ``items`` while the caller consumes the current item, so that
    sampling (numba, GIL released) overlaps with writing (compression releases the GIL).  At
    most ``alive`` items exist at a time: the producer starts item k + ``alive`` only after
    the caller asked for item k + 1.  The items and their order are those of ``items``;
    an exception of the producer is raised in the caller, and a caller that stops early
    stops the producer.

    Parameters
    ----------
    items : iterator
        Source of the items (run in the background thread).
    alive : int
        Largest number of items produced but not yet released by the caller (≥ 1).

    Yields
    ------
    object
        The items of ``items`` in order.
    """
    slots = threading.Semaphore(max(1, int(alive)))
    handoff: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            while True:
                slots.acquire()
                if stop.is_set():
                    return
                item = next(items, done)
                handoff.put((True, item))
                if item is done:
                    return
        except BaseException as err:  # re-raised in the caller
            handoff.put((False, err))

    worker = threading.Thread(target=produce, name="hepc9-generate-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
            del item
            slots.release()
    finally:
        stop.set()
        slots.release()
        worker.join()


def generate_file(
    cfg: Config,
    output: str | Path,
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    stream: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Generate ``cfg.generate.events`` events and write them to a native ROOT file.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    output : str or Path
        Output ROOT file (written atomically).
    overwrite : bool
        Replace an existing file.
    progress : callable, optional
        Called with the number of events finished after each block.
    stream : tuple of int
        Extra spawn-key entries (see :func:`iter_generated_blocks`).

    Returns
    -------
    dict
        Summary: output path, events, seconds, events per second, metadata.
    """
    out = check_output_path(output, overwrite=overwrite)
    inputs = generator_inputs(cfg)
    g = cfg.generate
    meta = make_meta(
        level="gen",
        shifts=inputs["shifts"].to_dict(),
        seed=cfg.seed,
        n_events=g.events,
        config_digest=cfg.digest(),
        generator="hepc9.generate.sampler",
        flavour=g.flavour,
        q2_range=list(inputs["q2_range"]) if inputs["q2_range"] else None,
        line_shape=g.line_shape,
        density=g.density,
        spawn_key=list(spawn_key("generate", *stream)),
        chunk_size=g.chunk_size,
        physics_constants=dict(cfg.physics.constants),
    )
    start = time.perf_counter()
    done = 0

    def blocks() -> Iterator[dict[str, np.ndarray]]:
        nonlocal done
        for events in prefetched(iter_generated_blocks(cfg, stream=stream)):
            done += len(events["q2"])
            yield events
            if progress is not None:
                progress(done)

    write_events(out, blocks(), meta, overwrite=overwrite)
    seconds = time.perf_counter() - start
    log.info("wrote %d events to %s in %.2f s", done, out, seconds)
    return {
        "output": str(out),
        "events": done,
        "seconds": seconds,
        "events_per_second": done / seconds if seconds > 0 else float("inf"),
        "meta": meta,
    }
