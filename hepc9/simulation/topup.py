"""The one retry/top-up loop: draw blocks until enough selected events are in hand."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hepc9.errors import DataError

__all__ = ["stop_after", "top_up"]


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
    have, rate = 0, first_rate
    for j in range(max_rounds):
        if have >= need and not (at_least_one and j == 0):
            return j
        n_try = block if block is not None else math.ceil((need - have) / rate * 1.1) + 64
        kept = draw(j, n_try, have)
        have += kept
        if n_try > 0:
            rate = max(kept / n_try, min_rate)
    if have < need:
        raise DataError(error.format(have=have, need=need, rounds=max_rounds))
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
