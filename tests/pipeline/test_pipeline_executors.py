"""Worker processes of ``[scale] executor = "processes"``: thread limits that numba accepts."""

import dataclasses

import numba

from hepc9.config import load_config
from hepc9.pipeline.executors import make_executor, map_chunks


def _compile_in_worker(x):
    """Compile a new numba function in the worker (a cold cache does this for every kernel)."""
    twice = numba.njit(lambda v: 2.0 * v)
    return twice(x), numba.get_num_threads()


def test_workers_compile_numba_after_their_thread_limit():
    # the first fresh clone compiles every kernel inside the workers; numba re-reads its
    # environment at each compilation and refuses a NUMBA_NUM_THREADS changed after launch
    scale = dataclasses.replace(load_config().scale, executor="processes", workers=2)
    with make_executor(scale) as ex:
        out = map_chunks(_compile_in_worker, [1.0, 2.0, 3.0], ex)
    assert [v for v, _ in out] == [2.0, 4.0, 6.0]
    per = max(1, (numba.config.NUMBA_DEFAULT_NUM_THREADS or 1) // 2)
    assert all(threads == per for _, threads in out)
