"""Event generation of B0 → K*0(→K+π−)μ+μ− at generator level.

:mod:`hepc9.generate.sampler` draws (q², cosθℓ, cosθK, χ, m(Kπ), flavour) from the 4D rate of
:mod:`hepc9.physics` with a numba kernel (:func:`sample_events`) and has a plain-numpy reference
(:func:`sample_events_numpy`); :func:`lab_four_vectors` adds lab-frame four-momenta.
:mod:`hepc9.generate.decfile` writes EvtGen decay files for the same model points.

Importing this package compiles nothing: the numba kernels compile (or load from the on-disk
cache) at their first call.
"""

from __future__ import annotations

from hepc9.generate.sampler import (
    FLAVOURS,
    LINE_SHAPES,
    MassQ2Table,
    Q2Table,
    lab_four_vectors,
    relbw_line_shape,
    relbw_mass_range,
    resolve_threads,
    sample_events,
    sample_events_numpy,
)

__all__ = [
    "FLAVOURS",
    "LINE_SHAPES",
    "MassQ2Table",
    "Q2Table",
    "lab_four_vectors",
    "relbw_line_shape",
    "relbw_mass_range",
    "resolve_threads",
    "sample_events",
    "sample_events_numpy",
]
