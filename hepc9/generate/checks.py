"""Options and argument checks of the samplers: flavours, line shapes, seeds, threads, q² window."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np

from hepc9.errors import DataError, did_you_mean
from hepc9.generate.lineshape import relbw_mass_range
from hepc9.physics.constants import ModelConstants, WilsonShifts, q2_limits
from hepc9.seeding import seed_sequence

__all__ = ["FLAVOURS", "LINE_SHAPES", "resolve_threads"]

#: Flavour options: B0 only (+1), B̄0 only (−1), or 50/50 per event.
FLAVOURS: tuple[str, ...] = ("b0", "b0bar", "both")
#: K* line shapes: fixed m(Kπ) = m_K*, or the relativistic Breit–Wigner of physics.md §5.5.
LINE_SHAPES: tuple[str, ...] = ("narrow", "relbw")

_FLAVOUR_CODE = {"b0": 1, "b0bar": -1, "both": 0}


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _as_shifts(shifts: WilsonShifts | Mapping[str, float] | None) -> WilsonShifts:
    if shifts is None:
        return WilsonShifts()
    if isinstance(shifts, WilsonShifts):
        return shifts
    if isinstance(shifts, Mapping):
        return WilsonShifts.from_mapping(shifts)
    raise DataError(
        f"shifts must be a WilsonShifts or a mapping of shift names, got {type(shifts).__name__}"
    )


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise DataError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        hint = did_you_mean(value, choices)
        raise DataError(f"unknown {name} {value!r}{hint} (valid: {', '.join(choices)})")
    return str(value)


def _check_window(
    q2_range: Any, constants: ModelConstants, *, mkpi: float | None = None
) -> tuple[float, float]:
    """Return the q² window, checked against the kinematic limits (physics.md §1.2)."""
    q2_min, q2_max = q2_limits(constants, mkpi)
    q2_max = float(q2_max)
    if q2_range is None:
        return float(q2_min), q2_max
    try:
        lo, hi = (float(x) for x in q2_range)
    except (TypeError, ValueError) as err:
        raise DataError(
            f"q2_range must be a pair of numbers (q2_min, q2_max) in GeV², got {q2_range!r}"
        ) from err
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise DataError(f"q2_range must be finite with q2_min < q2_max, got ({lo!r}, {hi!r})")
    tol = 1e-12 * q2_max
    if lo < q2_min - tol or hi > q2_max + tol:
        raise DataError(
            f"q2_range ({lo:g}, {hi:g}) GeV² leaves the kinematic limits "
            f"[{q2_min:.7g}, {q2_max:.7g}] GeV²; choose a window inside them"
        )
    return max(lo, float(q2_min)), min(hi, q2_max)


def resolve_threads(threads: int) -> int:
    """Return the number of worker threads for ``threads`` (0 → all cores numba sees).

    Parameters
    ----------
    threads : int
        Requested threads, ≥ 0.

    Returns
    -------
    int
        ``threads`` itself, or for 0 ``numba.get_num_threads()`` (the threads numba may use
        here: a worker process's limit), else ``os.cpu_count()``.
    """
    threads = _check_int(threads, "threads", minimum=0)
    if threads > 0:
        return threads
    try:
        return max(1, int(numba.get_num_threads()))
    except (AttributeError, ValueError):
        return max(1, os.cpu_count() or 1)


def _root_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer or a SeedSequence, got {seed!r}")
    return seed_sequence(int(seed), "generate")


def _check_common(
    n: Any, shifts: Any, flavour: Any, line_shape: Any
) -> tuple[int, WilsonShifts, str, str]:
    n = _check_int(n, "n (number of events)", minimum=1)
    return (
        n,
        _as_shifts(shifts),
        _check_choice(flavour, "flavour", FLAVOURS),
        _check_choice(line_shape, "line_shape", LINE_SHAPES),
    )


def _relbw_window(q2_range: Any, constants: ModelConstants) -> tuple[float, float]:
    m_lo, _ = relbw_mass_range(constants)
    return _check_window(q2_range, constants, mkpi=m_lo)
