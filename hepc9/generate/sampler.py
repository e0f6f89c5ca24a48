"""Event generator of the four-dimensional B0 → K*0(→K+π−)μ+μ− rate (physics.md §2, §5.5, §6.1).

Fast path (:func:`sample_events`)
    The twelve angular coefficients J_i(q²) of :func:`hepc9.physics.angular.angular_coefficients`
    are tabulated once per Wilson-coefficient point on a grid in the normalised variable
    ``v ∈ [0, 1]`` with

        q² = q²_lo + (q²_hi − q²_lo) · x(v),   x(v) = v^a / (v^a + (1 − v)^b),

    a (b) = 2 when the lower (upper) edge is the kinematic limit and 1 for a window edge inside
    the phase space.  At the kinematic limits the map absorbs the square-root thresholds (β_ℓ
    at 4m_μ², √λ at (m_B − m_Kπ)²), so the tabulated functions ``K_i(v) = J_i(q²(v)) dq²/dv``
    are smooth in v.  The grid starts uniform and intervals are bisected until the linear
    interpolation of every K_i meets 1e-6 of the local rate at every interval midpoint
    (:class:`Q2Table`); this resolves the photon pole, the charm threshold cusp at q² = 4m_c²
    and the endpoints.  The sampled 4D density is then *exactly* (9/32π) Σ_i K_i(v) f_i(Ω) with
    the interpolated ``K_i``: ``v`` is drawn from its piecewise-linear marginal by inverting the
    piecewise-quadratic CDF (with a guide table), the angles by accept–reject under the
    interpolated node values of the convex bound :func:`_angular_bound`.  The only approximation
    is the interpolation; :meth:`Q2Table.max_relative_error` and
    :meth:`Q2Table.total_variation_bound` quantify it against the exact physics.

    Events are produced in chunks of ``chunk_size``; chunk ``c`` draws from its own
    ``numpy.random.Generator`` seeded by child ``c`` of the root ``SeedSequence``
    (:func:`hepc9.seeding.child_sequences`).  The numba kernels release the GIL and run on a
    thread pool, so the output depends on the seed and the chunk size, never on the threads.

Reference path (:func:`sample_events_numpy`)
    Plain numpy, vectorised accept–reject in batches, with the exact physics at every proposed
    point: q² is proposed from the tabulated marginal and accepted with the ratio of the exact
    dΓ/dq² to the proposal, the angles are accepted against the exact angular density.  It is
    slower and serves as the statistical reference of the tests.

K* line shape (physics.md §5.5)
    ``line_shape="narrow"`` sets m(Kπ) = m_K*.  ``line_shape="relbw"`` draws m(Kπ) from the
    relativistic Breit–Wigner with mass-dependent width times p(m)·p_B(m) in
    [m0 − 0.25, m0 + 15 Γ0] (:func:`relbw_line_shape`), and then (q², Ω) from the normalised
    rate with m_V → m.  Here p is the kaon momentum in the Kπ frame and p_B the Kπ momentum in
    the B frame with the dimuon at its threshold q² = 4m_μ².  The fast path tabulates
    K_i(m, v) on a grid of masses (:class:`MassQ2Table`) and interpolates linearly in m at
    fixed normalised q² (a mixture of the two neighbouring mass nodes); a q² window is applied
    by rejection, so the m(Kπ) distribution inside a window is the line shape times the fraction
    of the rate at that mass that falls in the window.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from hepc9.generate.checks import (
    _FLAVOUR_CODE,
    FLAVOURS,
    LINE_SHAPES,
    _check_common,
    _check_int,
    _check_window,
    _relbw_window,
    _root_sequence,
    resolve_threads,
)
from hepc9.generate.density import DENSITIES, flat_fraction
from hepc9.generate.kernels import _angular_sum as _angular_sum
from hepc9.generate.kernels import _draw_angles as _draw_angles
from hepc9.generate.kernels import _draw_flavour as _draw_flavour
from hepc9.generate.kernels import _draw_guided as _draw_guided
from hepc9.generate.kernels import _map_q2 as _map_q2
from hepc9.generate.kernels import _sample_chunk_narrow, _sample_chunk_relbw
from hepc9.generate.lab import lab_four_vectors
from hepc9.generate.lineshape import relbw_line_shape, relbw_mass_range
from hepc9.generate.mapping import _angular_bound as _angular_bound
from hepc9.generate.mapping import _dq2_dv as _dq2_dv
from hepc9.generate.mapping import _q2_to_v as _q2_to_v
from hepc9.generate.mapping import _v_to_q2 as _v_to_q2
from hepc9.generate.mass_table import MassQ2Table, _check_relbw_window_fraction, _mass_table
from hepc9.generate.reference import _exact_total_at_mass as _exact_total_at_mass
from hepc9.generate.reference import _total_at_mass_quadrature as _total_at_mass_quadrature
from hepc9.generate.reference import sample_events_numpy
from hepc9.generate.tables import Q2Table, _q2_table
from hepc9.generate.tables import _angular_bound_fast as _angular_bound_fast
from hepc9.physics.constants import SEED_MODEL, ModelConstants, WilsonShifts
from hepc9.seeding import child_sequences

__all__ = [
    "DENSITIES",
    "FLAVOURS",
    "LINE_SHAPES",
    "MassQ2Table",
    "Q2Table",
    "iter_sample_events",
    "lab_four_vectors",
    "relbw_line_shape",
    "relbw_mass_range",
    "resolve_threads",
    "sample_events",
    "sample_events_numpy",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# public samplers
# --------------------------------------------------------------------------------------------


def sample_events(
    n: int,
    *,
    seed: int | np.random.SeedSequence,
    shifts: WilsonShifts | Mapping[str, float] = WilsonShifts(),  # noqa: B008 - immutable
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
    flavour: str = "b0",
    line_shape: str = "narrow",
    chunk_size: int = 262144,
    threads: int = 0,
    grid_points: int = 4096,
    density: str = "rate",
    progress: Callable[[int], Any] | None = None,
) -> dict[str, np.ndarray]:
    """Generate events of the 4D rate with the numba sampler (module docstring).

    Parameters
    ----------
    n : int
        Number of events (≥ 1).
    seed : int or numpy.random.SeedSequence
        Master seed (stream ``seeding.seed_sequence(seed, "generate")``) or the root sequence
        itself.  Chunk ``c`` uses child ``c`` of the root.
    shifts : WilsonShifts or mapping, optional
        Wilson-coefficient shifts (physics.md §5.1).
    constants : ModelConstants, optional
        Model constants.
    q2_range : tuple of float, optional
        q² window in GeV² inside the kinematic limits; default the full range.
    flavour : {"b0", "b0bar", "both"}, optional
        Flavour of the B; "both" draws B0/B̄0 50/50 per event.  Angles always follow the
        conjugate convention (physics.md §1.5), so both flavours share one distribution.
    line_shape : {"narrow", "relbw"}, optional
        K* line shape (physics.md §5.5).
    chunk_size : int, optional
        Events per independently seeded chunk.  The output depends on it (and on the seed),
        not on ``threads``.
    threads : int, optional
        Worker threads; 0 → :func:`resolve_threads`.
    grid_points : int, optional
        q² grid points of the narrow-K* table (:class:`Q2Table`).
    density : {"rate", "flat_angles", "mixture"}, optional
        Density the events are drawn from (:mod:`hepc9.generate.density`): the rate, or the
        rate's q² spectrum with flat angles (all events, or half of them); ``"rate"`` draws
        exactly the stream of earlier versions.
    progress : callable, optional
        Called as ``progress(n_done)`` (from the calling thread) each time the run of
        finished leading chunks grows.

    Returns
    -------
    dict of str to ndarray
        ``q2`` (GeV²), ``costheta_l``, ``costheta_k``, ``chi`` (rad, [0, 2π)), ``mkpi`` (GeV),
        all float64 of shape (n,), and ``flavour`` int8 (+1 B0, −1 B̄0).

    Raises
    ------
    DataError
        For n ≤ 0, non-finite shifts, a window outside the kinematic limits or unknown options.
    """
    out: dict[str, np.ndarray] = {}
    for done in _sample_into(
        out, n, seed=seed, shifts=shifts, constants=constants, q2_range=q2_range,
        flavour=flavour, line_shape=line_shape, chunk_size=chunk_size, threads=threads,
        grid_points=grid_points, density=density,
    ):  # fmt: skip
        if progress is not None:
            progress(done)
    return out


def iter_sample_events(n: int, **options: Any) -> Iterator[dict[str, np.ndarray]]:
    """Yield the events of :func:`sample_events` in order, chunk by chunk, as they finish.

    The concatenation of the yielded pieces is bit-identical to ``sample_events(n,
    **options)``; a piece is yielded as soon as it and every earlier chunk are drawn, while
    the worker threads go on with the later chunks (so that a consumer, e.g. a file writer,
    overlaps with the sampling).

    Parameters
    ----------
    n : int
        Number of events (≥ 1).
    **options
        Keyword arguments of :func:`sample_events` except ``progress``.

    Yields
    ------
    dict of str to ndarray
        The columns of :func:`sample_events` for the next events (views, not copies).
    """
    out: dict[str, np.ndarray] = {}
    start = 0
    for done in _sample_into(out, n, **options):
        yield {k: v[start:done] for k, v in out.items()}
        start = done


def _sample_into(
    out: dict[str, np.ndarray],
    n: int,
    *,
    seed: int | np.random.SeedSequence,
    shifts: WilsonShifts | Mapping[str, float] = WilsonShifts(),  # noqa: B008 - immutable
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
    flavour: str = "b0",
    line_shape: str = "narrow",
    chunk_size: int = 262144,
    threads: int = 0,
    grid_points: int = 4096,
    density: str = "rate",
) -> Iterator[int]:
    """Fill ``out`` with the columns of :func:`sample_events`; yield the finished prefix."""
    n, shifts, flavour, line_shape = _check_common(n, shifts, flavour, line_shape)
    flat = flat_fraction(density)
    chunk_size = _check_int(chunk_size, "chunk_size", minimum=1)
    threads = resolve_threads(threads)
    root = _root_sequence(seed)
    mode = _FLAVOUR_CODE[flavour]

    out.update({
        "q2": np.empty(n),
        "costheta_l": np.empty(n),
        "costheta_k": np.empty(n),
        "chi": np.empty(n),
        "mkpi": np.empty(n),
        "flavour": np.empty(n, dtype=np.int8),
    })
    if line_shape == "narrow":
        window = _check_window(q2_range, constants)
        table = _q2_table(shifts, constants, window, _check_int(grid_points, "grid_points", 16))
        out["mkpi"].fill(constants.m_kstar)

        def run(gen: np.random.Generator, sl: slice) -> None:
            _sample_chunk_narrow(
                gen, table.v, table.k, table.bound, table.density, table.cdf, table.guide,
                table.q2_lo, table.q2_hi, table.powers[0], table.powers[1], mode, flat,
                out["q2"][sl], out["costheta_l"][sl], out["costheta_k"][sl], out["chi"][sl],
                out["flavour"][sl],
            )  # fmt: skip
    else:
        win_lo, win_hi = _relbw_window(q2_range, constants)
        mt = _mass_table(shifts, constants)
        _check_relbw_window_fraction(mt, win_lo, win_hi)

        def run(gen: np.random.Generator, sl: slice) -> None:
            _sample_chunk_relbw(
                gen, mt.ls_grid, mt.ls_density, mt.ls_cdf, mt.ls_guide, mt.masses, mt.v, mt.k,
                mt.bound, mt.density, mt.cdf, mt.guides, mt.totals, mt.q2_min, constants.m_B0,
                win_lo, win_hi, mode, flat,
                out["q2"][sl], out["costheta_l"][sl], out["costheta_k"][sl], out["chi"][sl],
                out["mkpi"][sl], out["flavour"][sl],
            )  # fmt: skip

    yield from _iter_chunks(run, n, chunk_size=chunk_size, threads=threads, root=root)


def _iter_chunks(
    run: Callable[[np.random.Generator, slice], None],
    n: int,
    *,
    chunk_size: int,
    threads: int,
    root: np.random.SeedSequence,
) -> Iterator[int]:
    """Run ``run(gen_c, slice_c)`` for every chunk on ``threads`` threads.

    Yields the number of leading events finished (chunks 0..c all done) each time it grows,
    so that a consumer may use ``out[:done]`` while later chunks are still being drawn.
    """
    n_chunks = -(-n // chunk_size)
    children = child_sequences(root, n_chunks)
    slices = [slice(c * chunk_size, min(n, (c + 1) * chunk_size)) for c in range(n_chunks)]
    gens = [np.random.Generator(np.random.PCG64(ss)) for ss in children]
    logger.debug("sampling %d events in %d chunks on %d threads", n, n_chunks, threads)
    if threads == 1 or n_chunks == 1:
        for gen, sl in zip(gens, slices, strict=True):
            run(gen, sl)
            yield sl.stop
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(threads, n_chunks)) as pool:
        futures = [pool.submit(run, gen, sl) for gen, sl in zip(gens, slices, strict=True)]
        try:
            for fut, sl in zip(futures, slices, strict=True):
                fut.result()
                yield sl.stop
        finally:
            for fut in futures:
                fut.cancel()
