"""Progress bars for long stages: tqdm on a terminal, silent otherwise or with ``-q``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(
    total: int, *, desc: str, unit: str = "ev", enabled: bool | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield a callback ``update(n_done)`` that moves a bar to ``n_done`` of ``total``.

    Parameters
    ----------
    total : int
        Number of units of work.
    desc : str
        Label shown left of the bar.
    unit : str
        Unit name (``ev`` for events, ``img`` for images ...).
    enabled : bool, optional
        Force the bar on or off; by default it is shown only when stderr is a terminal.

    Yields
    ------
    callable
        ``update(n_done: int) -> None`` with the cumulative count.
    """
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield lambda n_done: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True, leave=False)

    def update(n_done: int) -> None:
        bar.update(max(0, n_done - bar.n))

    try:
        yield update
    finally:
        bar.close()
