"""Generate stage: block streams, the prefetching iterator and the written file's contents."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from hepc9.config import load_config
from hepc9.generate import sample_events
from hepc9.pipeline.generate import (
    CHUNKS_PER_BLOCK,
    generate_file,
    iter_generated_blocks,
    prefetched,
)
from hepc9.rootio.native import read_events
from hepc9.seeding import seed_sequence


def test_prefetched_keeps_order_and_bounds_items_alive():
    produced = []
    lock = threading.Lock()

    def source():
        for i in range(20):
            with lock:
                produced.append(i)
            yield i

    seen = []
    for item in prefetched(source(), alive=2):
        with lock:
            # the producer is at most `alive` items ahead of the caller
            assert len(produced) - len(seen) <= 2
        seen.append(item)
    assert seen == list(range(20))


def test_prefetched_raises_producer_errors_and_stops_early():
    def failing():
        yield 1
        raise ValueError("boom")

    it = prefetched(failing())
    assert next(it) == 1
    with pytest.raises(ValueError, match="boom"):
        next(it)

    started = []

    def endless():
        i = 0
        while True:
            started.append(i)
            yield i
            i += 1

    for item in prefetched(endless(), alive=1):
        if item == 3:
            break
    assert len(started) <= 5  # the producer stopped once the caller left


@pytest.mark.parametrize("four_vectors", [False, True])
def test_generated_pieces_are_the_blocks_of_the_random_stream(four_vectors):
    cfg = load_config(
        None,
        [
            ("generate.events", 2 * 1000 * CHUNKS_PER_BLOCK + 500),
            ("generate.chunk_size", 1000),
            ("generate.four_vectors", four_vectors),
            ("seed", 3),
        ],
    )
    pieces = list(iter_generated_blocks(cfg, stream=(4,)))
    if not four_vectors:
        assert max(len(p["q2"]) for p in pieces) == 1000
    got = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    block = 1000 * CHUNKS_PER_BLOCK
    for b, n in enumerate((block, block, 500)):
        ref = sample_events(
            n, seed=seed_sequence(3, "generate", 4, b), chunk_size=1000, threads=1
        )
        for k, v in ref.items():
            np.testing.assert_array_equal(got[k][b * block : b * block + n], v)


def test_generate_file_writes_the_streamed_events(tmp_path):
    cfg = load_config(
        None, [("generate.events", 1000 * CHUNKS_PER_BLOCK + 700), ("generate.chunk_size", 1000)]
    )
    done = []
    out = generate_file(cfg, tmp_path / "g.root", progress=done.append)
    assert out["events"] == cfg.generate.events
    assert done[-1] == cfg.generate.events
    assert done == sorted(done)
    events, meta = read_events(tmp_path / "g.root")
    assert meta["n_events"] == cfg.generate.events
    pieces = list(iter_generated_blocks(cfg))
    for k in ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour"):
        ref = np.concatenate([p[k] for p in pieces])
        disk = np.int8 if k == "flavour" else np.float32
        np.testing.assert_array_equal(events[k], ref.astype(disk).astype(events[k].dtype))
