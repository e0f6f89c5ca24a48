"""Derivation of every random stream from the one master seed of a run.

Streams are identified by *keys*, not by call order: ``(stage, *keys)`` is appended to the
spawn key of ``SeedSequence(seed)``.  Adding a stage, a label point or a chunk therefore
leaves every other stream unchanged.  Stage numbers are fixed forever; a retired stage
keeps its number and a new stage takes a new one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepc9.errors import ConfigError, did_you_mean

__all__ = ["STAGES", "rng", "seed_sequence", "spawn_key"]

#: Fixed stage numbers.  Never renumber or reuse an entry.
STAGES: dict[str, int] = {
    "generate": 1,
    "detector": 2,
    "background": 3,
    "candidates": 4,
    "images_train": 10,
    "images_validation": 11,
    "images_test": 12,
    "images_reference": 13,
    "sets_train": 14,
    "sets_validation": 15,
    "sets_test": 16,
    "stream": 17,
    "efficiency_mc": 20,
    "fit_toys": 21,
    "fisher": 22,
    "fit_errors": 23,
    "fit_coverage": 24,
    "fit_efficiency_spread": 25,
    "train": 30,
    "evaluate": 40,
    "observables": 50,
}


def _stage_number(stage: str | int) -> int:
    if isinstance(stage, int):
        return stage
    try:
        return STAGES[stage]
    except KeyError:
        hint = did_you_mean(stage, STAGES)
        raise ConfigError(f"unknown random-stream stage '{stage}'{hint}") from None


def spawn_key(stage: str | int, *keys: int) -> tuple[int, ...]:
    """Return the spawn key of a stream.

    Parameters
    ----------
    stage : str or int
        Stage name from :data:`STAGES` or its number.
    *keys : int
        Further non-negative integers (label index, split, chunk index, ...).

    Returns
    -------
    tuple of int
        ``(stage_number, *keys)``.
    """
    out = (_stage_number(stage), *(int(k) for k in keys))
    if any(k < 0 for k in out):
        raise ConfigError(f"spawn keys must be non-negative integers, got {out}")
    return out


def seed_sequence(seed: int, stage: str | int, *keys: int) -> np.random.SeedSequence:
    """Return the ``SeedSequence`` of one stream.

    Parameters
    ----------
    seed : int
        Master seed of the run (the ``seed`` of the configuration).
    stage : str or int
        Stage name or number.
    *keys : int
        Further keys identifying the stream inside the stage.

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(seed, spawn_key=(stage, *keys))``.
    """
    return np.random.SeedSequence(int(seed), spawn_key=spawn_key(stage, *keys))


def rng(seed: int, stage: str | int, *keys: int) -> np.random.Generator:
    """Return a fresh ``numpy.random.Generator`` (PCG64) for one stream.

    Parameters
    ----------
    seed : int
        Master seed.
    stage : str or int
        Stage name or number.
    *keys : int
        Further keys.

    Returns
    -------
    numpy.random.Generator
        Generator seeded from :func:`seed_sequence`.
    """
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, stage, *keys)))


def child_sequences(parent: np.random.SeedSequence, n: int) -> Sequence[np.random.SeedSequence]:
    """Return ``n`` deterministic children of ``parent`` indexed by chunk number.

    Unlike ``parent.spawn(n)`` this does not mutate ``parent``: child ``i`` always has
    spawn key ``parent.spawn_key + (i,)`` whatever was spawned before.

    Parameters
    ----------
    parent : numpy.random.SeedSequence
        Parent sequence.
    n : int
        Number of children.

    Returns
    -------
    list of numpy.random.SeedSequence
    """
    return [
        np.random.SeedSequence(parent.entropy, spawn_key=(*parent.spawn_key, i)) for i in range(n)
    ]


__all__ += ["child_sequences"]
