"""Event generation of B0 → K*0(→K+π−)μ+μ− at generator level.

===============  ============================================================================
module           job
===============  ============================================================================
``sampler``      :func:`sample_events`, :func:`iter_sample_events`: the fast sampler
``tables``       q² interpolation table :class:`Q2Table` (adaptive grid, error bounds, cache)
``mass_table``   (m(Kπ), q²) table :class:`MassQ2Table` of the ``relbw`` line shape
``mapping``      normalised-q² map, piecewise-linear CDFs, the convex angular bound
``kernels``      numba kernels of the fast sampler (guided draws, angular accept–reject)
``density``      generator densities (rate, flat angles, mixture) and their values
``reference``    :func:`sample_events_numpy`: the plain-numpy reference, exact physics
``lineshape``    the ``relbw`` K* line shape (:func:`relbw_line_shape`, mass range)
``checks``       options (flavours, line shapes) and argument checks of both samplers
``lab``          :func:`lab_four_vectors`: lab-frame four-momenta of generated events
``decfile``      EvtGen decay files for the same model points
===============  ============================================================================

The names of the sub-modules stay importable from :mod:`hepc9.generate.sampler`.

Importing this package compiles nothing: the numba kernels compile (or load from the on-disk
cache) at their first call.
"""

from __future__ import annotations

from hepc9.generate.sampler import (
    DENSITIES,
    FLAVOURS,
    LINE_SHAPES,
    MassQ2Table,
    Q2Table,
    iter_sample_events,
    lab_four_vectors,
    relbw_line_shape,
    relbw_mass_range,
    resolve_threads,
    sample_events,
    sample_events_numpy,
)

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
