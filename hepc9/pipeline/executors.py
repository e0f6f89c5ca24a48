"""Pluggable executors for independent, seeded chunks of work.

A stage cuts its work into chunks whose results depend only on their own spawn key, so the
executor decides *where* a chunk runs, never *what* it computes: the serial, local-process and
dask executors give bit-identical results.

- ``serial``: in this process (tests, debugging).
- ``processes``: :class:`concurrent.futures.ProcessPoolExecutor` with ``workers`` processes
  (0: one per core), each limited to ``cores // workers`` numba threads.
- ``dask``: ``distributed.Client(scheduler_address).get_executor()``; a Slurm cluster is
  started with ``dask_jobqueue.SLURMCluster`` and its scheduler address put in
  ``[scale] scheduler_address``.  ``scheduler_address = "local"`` starts a
  ``distributed.LocalCluster`` for the run.

:func:`map_chunks` hands the chunks to the one task dispatcher :func:`hepc9.runner.map_tasks`
(where :class:`SerialExecutor` lives; re-exported here).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, TypeVar

import numba

from hepc9.config import ScaleConfig
from hepc9.errors import ConfigError
from hepc9.runner import SerialExecutor, map_tasks

__all__ = ["SerialExecutor", "make_executor", "map_chunks"]

T = TypeVar("T")


def _limit_threads(n: int) -> None:
    """Worker initialiser: use ``n`` threads (numba's mask, OpenMP's variable).

    ``NUMBA_NUM_THREADS`` itself is left alone: numba read it when this module was imported
    and re-reads it at every compilation, and a value changed after its threads started is
    an error there (a cold cache compiles every kernel inside the workers).
    """
    os.environ["OMP_NUM_THREADS"] = str(n)
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


@contextlib.contextmanager
def make_executor(scale: ScaleConfig) -> Iterator[Executor]:
    """Yield the executor described by the ``[scale]`` section.

    Parameters
    ----------
    scale : ScaleConfig
        ``executor`` (serial | processes | dask), ``workers``, ``scheduler_address``.

    Yields
    ------
    concurrent.futures.Executor
    """
    cores = os.cpu_count() or 1
    if scale.executor == "serial":
        yield SerialExecutor()
        return
    if scale.executor == "processes":
        workers = scale.workers or cores
        per = max(1, cores // workers)
        ctx = multiprocessing.get_context("spawn")  # no fork of numba/TF thread pools
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_limit_threads,
                                 initargs=(per,)) as ex:
            yield ex
        return
    if scale.executor == "dask":
        try:
            from distributed import Client, LocalCluster
        except ImportError as err:  # pragma: no cover - distributed is a dependency
            raise ConfigError("[scale] executor = 'dask' needs the 'distributed' package") from err
        address = scale.scheduler_address
        if not address:
            raise ConfigError("[scale] executor = 'dask' needs scheduler_address "
                              "(a 'tcp://host:port' address, or 'local' for a LocalCluster)")
        if address == "local":
            workers = scale.workers or cores
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                yield client.get_executor()
            return
        with Client(address) as client:
            yield client.get_executor()
        return
    raise ConfigError(
        f"[scale] executor = {scale.executor!r} is not one of serial, processes, dask"
    )


def map_chunks(
    fn: Callable[[Any], T], specs: Sequence[Any], executor: Executor,
    *, progress: Callable[[int], None] | None = None,
) -> list[T]:
    """Apply ``fn`` to every chunk spec on ``executor``; results in the order of ``specs``.

    Parameters
    ----------
    fn : callable
        Picklable top-level function of one chunk spec.
    specs : sequence
        Picklable chunk specifications (each carries its own spawn key).
    executor : concurrent.futures.Executor
        Where to run.
    progress : callable, optional
        Called with the number of finished chunks.

    Returns
    -------
    list
        ``[fn(spec) for spec in specs]``.
    """
    return map_tasks(fn, specs, executor=executor, progress=progress)
