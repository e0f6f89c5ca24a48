"""The one retry/top-up loop: draw blocks until enough selected events are in hand."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from hepc9.errors import DataError

__all__ = ["stop_after", "top_up", "top_up_each"]


def top_up(
    draw: Callable[[int, int, int], int],
    need: int,
    *,
    first_rate: float,
    min_rate: float,
    max_rounds: int,
    error: str,
    block: int | None = None,
    at_least_one: bool = False,
) -> int:
    """Call ``draw(round, size, have)`` until it has returned ``need`` kept events in all.

    Block ``j`` draws ``block`` events when a fixed block size is given, else
    ``ceil((need − have) / rate · 1.1) + 64`` with ``rate`` the fraction kept by the previous
    block (``first_rate`` at first, never below ``min_rate``).  Round ``j`` is a key of the
    block's random streams (chosen by ``draw``), so every round has streams of its own.
    This is :func:`top_up_each` for a single stream of events.

    Parameters
    ----------
    draw : callable
        ``draw(j, n_try, have) -> kept``: draw round ``j`` of ``n_try`` events and return
        how many it kept.
    need : int
        Events wanted.
    first_rate, min_rate : float
        Expected kept fraction of the first block, and its floor.
    max_rounds : int
        Rounds before giving up.
    error : str
        Message of the :class:`DataError` raised when too few are kept; ``{have}``,
        ``{need}`` and ``{rounds}`` are filled in.
    block : int, optional
        Fixed block size.
    at_least_one : bool
        Draw one block even when ``need`` is 0.

    Returns
    -------
    int
        Rounds drawn.

    Raises
    ------
    DataError
        Fewer than ``need`` events after ``max_rounds`` rounds.
    """

    def draw_one(j: int, n_try: np.ndarray, have: np.ndarray) -> np.ndarray:
        return np.array([draw(j, int(n_try[0]), int(have[0]))])

    return top_up_each(draw_one, [need], first_rate=first_rate, min_rate=min_rate,
                       max_rounds=max_rounds, error=error, block=block,
                       at_least_one=at_least_one)


def top_up_each(
    draw: Callable[[int, np.ndarray, np.ndarray], np.ndarray],
    needs: Sequence[int] | np.ndarray,
    *,
    first_rate: float,
    min_rate: float,
    max_rounds: int,
    error: str,
    block: int | None = None,
    at_least_one: bool = False,
) -> int:
    """Top up several streams at once until stream ``i`` has kept ``needs[i]`` events.

    Each round draws one block for every stream still short (a single call of ``draw``, so
    the per-call costs of a detector pass are paid once per round for all of them).  A short
    stream's block has ``block`` events when a fixed size is given, else
    ``ceil((need − have) / rate · 1.1) + 64``, with ``rate`` the fraction of all events of the
    previous round that were kept (``first_rate`` at first, never below ``min_rate``).  A
    stream that has enough gets size 0.

    Parameters
    ----------
    draw : callable
        ``draw(j, n_try, have) -> kept``: draw round ``j`` with ``n_try[i]`` events for
        stream ``i`` (``(k,)`` integers, 0 for a stream that has enough), ``have`` the
        ``(k,)`` counts kept so far; return the ``(k,)`` counts kept in this round.
    needs : sequence of int
        Events wanted per stream.
    first_rate, min_rate : float
        Expected kept fraction of the first round, and its floor.
    max_rounds : int
        Rounds before giving up.
    error : str
        Message of the :class:`DataError` raised when a stream keeps too few; ``{have}``
        (the fewest kept by a short stream), ``{need}`` (its need) and ``{rounds}`` are
        filled in.
    block : int, optional
        Fixed block size.
    at_least_one : bool
        Draw one round for every stream even when nothing is needed.

    Returns
    -------
    int
        Rounds drawn.

    Raises
    ------
    DataError
        A stream with fewer than its need after ``max_rounds`` rounds.
    """
    want = np.asarray(needs, dtype=np.int64).reshape(-1)
    have = np.zeros(want.size, dtype=np.int64)
    rate = first_rate
    for j in range(max_rounds):
        short = have < want
        if at_least_one and j == 0:
            short[:] = True
        if not short.any():
            return j
        n_try = np.zeros(want.size, dtype=np.int64)
        for i in np.flatnonzero(short):
            n_try[i] = block if block is not None else (
                math.ceil(int(want[i] - have[i]) / rate * 1.1) + 64)
        kept = np.asarray(draw(j, n_try, have.copy()), dtype=np.int64).reshape(want.size)
        have += kept
        total = int(n_try.sum())
        if total > 0:
            rate = max(int(kept.sum()) / total, min_rate)
    short_idx = np.flatnonzero(have < want)
    if short_idx.size:
        worst = short_idx[np.argmin(have[short_idx])]
        raise DataError(error.format(have=int(have[worst]), need=int(want[worst]),
                                     rounds=max_rounds))
    return max_rounds


def stop_after(cumulative: np.ndarray, have: int, need: int, size: int) -> int:
    """Return how many events of a block to keep so the stream stops at the ``need``-th.

    Parameters
    ----------
    cumulative : ndarray
        Running count ``(size,)`` of the kept events of the block.
    have : int
        Events kept by the earlier blocks.
    need : int
        Events wanted in all.
    size : int
        Events in the block.

    Returns
    -------
    int
        ``size``, or the index just after the ``(need − have)``-th kept event of the block.
    """
    cum = np.asarray(cumulative)
    if size == 0 or have + int(cum[-1]) <= need:
        return size
    return int(np.searchsorted(cum, need - have)) + 1
