"""Toy-calibrated (Neyman) confidence intervals from the ensembles of an estimator.

The likelihood fit's MINOS interval (ΔlnL = ½) and a network's posterior quantiles cover
68 % only when Wilks' theorem or the network's calibration hold; at small N, where δC9 enters
the rate linearly and quadratically, neither is guaranteed.  The Neyman construction needs
neither: at each evaluated truth t the central 68.27 % of the estimator's distribution,
[q₋(t), q₊(t)] (its quantiles over the pseudo-experiments), is the acceptance region; the
quantile curves are interpolated linearly between the evaluated truths (the *belt*), and the
interval of one pseudo-experiment with estimate x is the set of truths whose acceptance region
holds x,

    I(x) = {t : q₋(t) ≤ x ≤ q₊(t)},

taken as its hull [min, max] when the belt is not monotone (conservative).  The belt spans only
the evaluated truths: an interval reaching an end of that range is cut there (``truncated``),
and an estimate outside every acceptance region gets no interval (``(nan, nan)``, which does
not cover).

So that no pseudo-experiment is judged by a belt built from itself, :func:`neyman_intervals`
splits every ensemble in two halves (even and odd positions): the belt of one half gives the
intervals of the other.  Their coverage is then an honest (held-out) check of the
construction; its value is in the interval *widths*, which show what a set really tells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hepc9.errors import DataError

__all__ = ["CENTRAL_68", "NeymanBelt", "neyman_belt", "neyman_intervals"]

#: The central 68.27 % (±1σ of a Gaussian) probability content.
CENTRAL_68 = 0.682689492137086

#: Points of the truth grid on which the belt is inverted.
GRID_POINTS = 4001


@dataclass(frozen=True, slots=True)
class NeymanBelt:
    """Acceptance regions [q₋(t), q₊(t)] of an estimator at its evaluated truths.

    Attributes
    ----------
    truths : numpy.ndarray, shape (k,)
        Evaluated true values, increasing.
    lower, upper : numpy.ndarray, shape (k,)
        Quantiles (1 ∓ cl)/2 of the estimates at each truth.
    cl : float
        Probability content of each acceptance region.
    """

    truths: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    cl: float

    def acceptance(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated acceptance region at truths ``t`` inside the evaluated range."""
        t = np.asarray(t, dtype=np.float64)
        return (np.interp(t, self.truths, self.lower), np.interp(t, self.truths, self.upper))

    def invert(
        self, values: np.ndarray, *, grid_points: int = GRID_POINTS
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Confidence intervals of estimates ``values``.

        Parameters
        ----------
        values : numpy.ndarray, shape (n,)
            Point estimates of independent pseudo-experiments.
        grid_points : int
            Truth grid over the evaluated range on which the belt is inverted (the evaluated
            truths are always on it).

        Returns
        -------
        lower, upper : numpy.ndarray, shape (n,)
            Interval edges; ``nan`` where no acceptance region holds the estimate.
        truncated : numpy.ndarray of bool, shape (n,)
            Whether the interval reaches an end of the evaluated range.
        """
        x = np.asarray(values, dtype=np.float64).ravel()
        grid = np.union1d(np.linspace(self.truths[0], self.truths[-1], int(grid_points)),
                          self.truths)
        qlo, qhi = self.acceptance(grid)
        inside = (qlo[None, :] <= x[:, None]) & (x[:, None] <= qhi[None, :])
        any_in = inside.any(axis=1)
        first = np.argmax(inside, axis=1)
        last = grid.size - 1 - np.argmax(inside[:, ::-1], axis=1)
        lo = np.where(any_in, grid[first], np.nan)
        hi = np.where(any_in, grid[last], np.nan)
        truncated = any_in & ((first == 0) | (last == grid.size - 1))
        return lo, hi, truncated


def neyman_belt(
    predictions: Mapping[float, np.ndarray], *, cl: float = CENTRAL_68
) -> NeymanBelt:
    """Build the belt of an estimator from its estimates at several truths.

    Parameters
    ----------
    predictions : mapping of float to numpy.ndarray
        True value → estimates of independent pseudo-experiments (at least 2 truths, at least
        2 estimates each).
    cl : float
        Probability content of the acceptance regions (central interval).

    Returns
    -------
    NeymanBelt
    """
    if not 0.0 < cl < 1.0:
        raise DataError(f"confidence level {cl} must be in (0, 1)")
    truths = np.array(sorted(float(t) for t in predictions))
    if truths.size < 2:
        raise DataError(f"a Neyman belt needs estimates at 2 or more truths, got {truths.size}")
    lo, hi = [], []
    for t in truths:
        x = np.asarray(predictions[t], dtype=np.float64).ravel()
        if x.size < 2:
            raise DataError(f"a Neyman belt needs 2 or more estimates at truth {t:g}")
        a, b = np.quantile(x, [0.5 * (1.0 - cl), 0.5 * (1.0 + cl)])
        lo.append(float(a))
        hi.append(float(b))
    return NeymanBelt(truths, np.array(lo), np.array(hi), float(cl))


def neyman_intervals(
    predictions: Mapping[float, np.ndarray | Sequence[float]], *, cl: float = CENTRAL_68
) -> dict[float, tuple[np.ndarray, np.ndarray]] | None:
    """Held-out Neyman intervals of every pseudo-experiment.

    The estimates at each truth are split by position (even, odd); the belt of the even half
    gives the intervals of the odd sets and vice versa.

    Parameters
    ----------
    predictions : mapping of float to array_like
        True value → estimates.
    cl : float
        Probability content.

    Returns
    -------
    dict or None
        True value → (lower, upper) in the order of ``predictions``; ``None`` when the ensemble
        is too small (fewer than 2 truths, or fewer than 4 estimates at a truth).
    """
    arrays = {float(t): np.asarray(v, dtype=np.float64).ravel() for t, v in predictions.items()}
    if len(arrays) < 2 or min(a.size for a in arrays.values()) < 4:
        return None
    halves = [{t: a[k::2] for t, a in arrays.items()} for k in (0, 1)]
    belts = [neyman_belt(h, cl=cl) for h in halves]
    out = {}
    for t, a in arrays.items():
        lo = np.empty_like(a)
        hi = np.empty_like(a)
        for k in (0, 1):
            # the sets at positions k, k+2, … take the belt of the other half
            lo_k, hi_k, _ = belts[1 - k].invert(a[k::2])
            lo[k::2], hi[k::2] = lo_k, hi_k
        out[t] = (lo, hi)
    return out
