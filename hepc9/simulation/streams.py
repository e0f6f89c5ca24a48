"""Sub-streams of a chunk's random stream (keys, not call order, define them)."""

from __future__ import annotations

import numpy as np

__all__ = ["child", "generator"]


def child(parent: np.random.SeedSequence, *keys: int) -> np.random.SeedSequence:
    """Return the seed sequence ``parent`` extended by the spawn keys ``keys``.

    Parameters
    ----------
    parent : numpy.random.SeedSequence
        The stream of a chunk (or of a batch, a set chunk, ...).
    *keys : int
        Fixed keys of the sub-stream.

    Returns
    -------
    numpy.random.SeedSequence
    """
    return np.random.SeedSequence(parent.entropy, spawn_key=(*parent.spawn_key, *keys))


def generator(ss: np.random.SeedSequence) -> np.random.Generator:
    """Return a PCG64 generator on ``ss`` (spawnable, as the detector simulation needs)."""
    return np.random.Generator(np.random.PCG64(ss))
