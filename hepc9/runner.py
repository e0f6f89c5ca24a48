"""The one dispatcher of independent, seeded tasks (pseudo-experiments, toys, chunks).

Every ensemble of the package (the toys of :func:`hepc9.fit.fit_toys`, the evaluation
pseudo-experiments of :func:`hepc9.evaluate.ensembles.run_pseudo_experiments`, the chunks a
pipeline stage sends to its ``[scale]`` executor) is a map of a per-item task over items whose
results depend only on their own random stream.  :func:`map_tasks` runs that map serially, on a
thread pool or on any :class:`concurrent.futures.Executor` (a process pool, dask), always
returning the results in the order of the items and reporting progress the same way, so *where*
a task runs never changes *what* it computes.  :func:`task_streams` gives item ``i`` its stream
``(seed, stage, i)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from hepc9.errors import DataError
from hepc9.seeding import child_sequences, seed_sequence

__all__ = ["SerialExecutor", "map_tasks", "task_streams"]

T = TypeVar("T")


class SerialExecutor(Executor):
    """Run submitted calls immediately in the calling process."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:  # noqa: D102
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the caller sees the exception via fut.result()
            fut.set_exception(exc)
        return fut


def task_streams(seed: int, stage: str | int, n: int) -> Sequence[np.random.SeedSequence]:
    """Return the random streams of ``n`` tasks: task ``i`` gets ``(seed, stage, i)``.

    Parameters
    ----------
    seed : int
        Master seed.
    stage : str or int
        Stage of :data:`hepc9.seeding.STAGES`.
    n : int
        Number of tasks.

    Returns
    -------
    list of numpy.random.SeedSequence
        ``child_sequences(seed_sequence(seed, stage), n)``.
    """
    return child_sequences(seed_sequence(int(seed), stage), int(n))


def _collect(futures: Sequence[Future[T]], done: int,
             progress: Callable[[int], None] | None) -> list[T]:
    out = []
    for i, fut in enumerate(futures):
        out.append(fut.result())
        if progress is not None:
            progress(done + i + 1)
    return out


def map_tasks(
    fn: Callable[[Any], T],
    items: Sequence[Any],
    *,
    executor: Executor | None = None,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
    first_here: bool = False,
) -> list[T]:
    """Apply ``fn`` to every item; results in the order of ``items``.

    Parameters
    ----------
    fn : callable
        Task of one item (a picklable top-level function for a process executor).
    items : sequence
        Task inputs (each carries or is its own random stream).
    executor : concurrent.futures.Executor, optional
        Where to run the tasks (a process pool, a dask executor, :class:`SerialExecutor`).
    threads : int
        Without ``executor``: threads of a pool made for this call (1: serially, here).
    progress : callable, optional
        ``progress(done)`` with the number of finished tasks, in order, from this thread.
    first_here : bool
        Run the first task in the calling thread before the others start (it compiles or
        loads every numba kernel once, so worker threads never compile one concurrently).

    Returns
    -------
    list
        ``[fn(item) for item in items]``.
    """
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise DataError(f"threads = {threads!r} must be a positive integer")
    items = list(items)
    head: list[T] = []
    if first_here and items:
        head.append(fn(items[0]))
        if progress is not None:
            progress(1)
        items = items[1:]
    if executor is not None:
        return head + _collect([executor.submit(fn, it) for it in items], len(head), progress)
    if threads == 1:
        return head + _serial(fn, items, len(head), progress)
    with ThreadPoolExecutor(max_workers=int(threads)) as pool:
        return head + _collect([pool.submit(fn, it) for it in items], len(head), progress)


def _serial(fn: Callable[[Any], T], items: Sequence[Any], done: int,
            progress: Callable[[int], None] | None) -> list[T]:
    out = []
    for i, it in enumerate(items):
        out.append(fn(it))
        if progress is not None:
            progress(done + i + 1)
    return out
