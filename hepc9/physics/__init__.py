"""Physics model of B0 → K*0(→ K+ π−) μ+ μ− versus Wilson coefficients (physics.md §1–§7).

=================  ==========================================================================
``constants``      :class:`ModelConstants` (seed generator numbers), :class:`WilsonShifts`,
                   q² limits
``formfactors``    BSZ-2015 form factors
``wilson``         C9eff(q²) = C9 + Y(q²) with the perturbative quark loops
``amplitudes``     transversity amplitudes, linear in the Wilson coefficients
``angular``        the twelve J_i(q²) (LHCb convention) and angular functions f_i (numpy
                   and numba twins)
``window``         the one q² window rule (:func:`~hepc9.physics.window.resolve_q2_range`)
``rate``           4D rate, dΓ/dq², total rate, normalised density, branching fraction
``quadratic``      the rate as an exact quadratic form in chosen real shifts
``observables``    binned F_L, A_FB, S_i, P5′; A_FB zero crossing; method of moments
=================  ==========================================================================

The seed model (``SEED_MODEL`` with ``WilsonShifts()``) is the basf2 ``BTOSLLNPR`` generator.
Everything here is vectorised numpy (float64 / complex128) and cheap to import; the numba twins
of the angular functions compile on first call, not on import.
"""

from __future__ import annotations

from hepc9.physics.angular import J_NAMES, angular_coefficients, angular_functions
from hepc9.physics.constants import (
    SEED_MODEL,
    SHIFT_NAMES,
    ZERO_SHIFTS,
    ModelConstants,
    WilsonShifts,
    model_constants,
    q2_limits,
)
from hepc9.physics.observables import (
    STANDARD_BINS,
    afb_zero_crossing,
    binned_observables,
    moments,
)
from hepc9.physics.quadratic import (
    angular_coefficient_matrices,
    dgamma_dq2_matrices,
    normalisation_matrix,
    quadratic_coefficients,
    quadratic_form,
)
from hepc9.physics.rate import (
    branching_fraction,
    decay_density,
    dgamma_dq2,
    differential_rate,
    total_rate,
)

__all__ = [
    "J_NAMES",
    "SEED_MODEL",
    "SHIFT_NAMES",
    "STANDARD_BINS",
    "ZERO_SHIFTS",
    "ModelConstants",
    "WilsonShifts",
    "afb_zero_crossing",
    "angular_coefficient_matrices",
    "angular_coefficients",
    "angular_functions",
    "binned_observables",
    "branching_fraction",
    "decay_density",
    "dgamma_dq2",
    "dgamma_dq2_matrices",
    "differential_rate",
    "model_constants",
    "moments",
    "normalisation_matrix",
    "q2_limits",
    "quadratic_coefficients",
    "quadratic_form",
    "total_rate",
]
