"""Argument types of the command line: each parses one flag value or fails with a usage error.

Every function takes the flag's text and returns the parsed value, or raises
:class:`argparse.ArgumentTypeError` (argparse turns it into a one-line error with exit status 2).
"""

from __future__ import annotations

import argparse
import math

from hepc9.physics.constants import SHIFT_NAMES

__all__ = [
    "bins",
    "finite_float",
    "fraction",
    "free_list",
    "non_negative_int",
    "positive_int",
    "q2_range",
    "scan_spec",
]


def finite_float(text: str) -> float:
    """Parse a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def positive_int(text: str) -> int:
    """Parse a positive integer; ``1e6`` style counts are accepted when they are integers."""
    try:
        if "e" in text.lower():  # 1e6 style counts; 1.5e0 or 1e999 are not integers
            number = float(text)
            if not number.is_integer():
                raise ValueError(text)
            value = int(number)
        else:
            value = int(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def non_negative_int(text: str) -> int:
    """Parse an integer >= 0 (seeds, thread counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be a non-negative integer")
    return value


def fraction(text: str) -> float:
    """Parse a background fraction in [0, 1)."""
    value = finite_float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"background fraction {value} must be in [0, 1)")
    return value


def q2_range(text: str) -> tuple[float, float]:
    """Parse ``LOW,HIGH`` in GeV² with LOW < HIGH."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"'{text}' must be LOW,HIGH (GeV²), e.g. 1.1,6.0")
    lo, hi = (finite_float(p) for p in parts)
    if lo >= hi:
        raise argparse.ArgumentTypeError(f"q² range {text}: LOW must be below HIGH")
    return lo, hi


def bins(text: str) -> list[tuple[float, float]]:
    """Parse q² bins ``LO,HI;LO,HI...`` in GeV²."""
    out = []
    for part in text.split(";"):
        if part.strip():
            out.append(q2_range(part.strip()))
    if not out:
        raise argparse.ArgumentTypeError("no bins given; use e.g. '1.1,2.5;2.5,4;4,6'")
    return out


def free_list(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of shift names (``dc9,dc10``)."""
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in SHIFT_NAMES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"'{text}' must be a comma-separated list of {', '.join(SHIFT_NAMES)}"
        )
    return names


def scan_spec(text: str) -> tuple[str, list[float]]:
    """Parse ``PARAM=LOW:HIGH:N`` into the parameter name and N equally spaced values."""
    try:
        name, rng = text.split("=", 1)
        lo, hi, n = rng.split(":")
        lo_f, hi_f, n_i = finite_float(lo), finite_float(hi), int(n)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"'{text}' must look like PARAM=LOW:HIGH:N, e.g. dc9=-2:0.5:26"
        ) from None
    if n_i < 2 or lo_f >= hi_f:
        raise argparse.ArgumentTypeError(f"'{text}': need LOW < HIGH and N >= 2")
    step = (hi_f - lo_f) / (n_i - 1)
    return name.strip(), [lo_f + i * step for i in range(n_i)]
