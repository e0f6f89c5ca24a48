"""Unbinned 4D maximum-likelihood fit of Wilson-coefficient shifts (physics.md §6).

The rate at a phase-space point x = (q², cosθℓ, cosθK, χ) is an exact quadratic form in the
real shifts θ = (θ1..θk) chosen as free parameters (:mod:`hepc9.physics.quadratic`)::

    rate(x; θ) = θ̃ᵀ M(x) θ̃,   θ̃ = (1, θ1, …, θk),   Γ(θ) = θ̃ᵀ 𝕄 θ̃,   𝕄 = ∫ ε M dx

The symmetric matrices are stored *packed*: the K(K+1)/2 upper-triangle entries (row major,
K = k+1), so that ``rate = C · m(θ)`` with the monomial vector ``m_(ij) = θ̃_i θ̃_j`` (times 2
for i < j).  Each event costs K(K+1)/2 multiply-adds and one logarithm per likelihood call.

Likelihood (background fraction f, background density G relative to the acceptance)::

    −ln L(θ, f) = −Σ_e ln[ (1 − f) C_e·m(θ) / 𝕄·m(θ) + f G_e ]   (+ (f − f0)²/2σ_f² if constrained)

With f = 0 this is −Σ ln C_e·m + N ln 𝕄·m, the shape-only likelihood of physics.md §6.2.

Normalisation 𝕄:

* no acceptance: the exact q²-window integral of the model (:func:`model_normalisation`);
* with acceptance: a Monte Carlo integral over a reconstructed simulation sample
  (:class:`~hepc9.fit.acceptance.AcceptanceSample`, built by :func:`acceptance_sample`).

Minimisation uses a custom FCN with analytic gradient and Hessian (one numba pass over the
events returns all three) handed to :class:`iminuit.Minuit` with ``errordef = 0.5``: damped
Newton steps bring the start to the minimum, then MIGRAD, HESSE, optionally MINOS, and
likelihood scans/profiles (:meth:`LikelihoodFit.scan`).  The fast per-event forms come from
the spline table of :mod:`hepc9.fit.precompute` (``exact=True`` evaluates the physics instead).

Per-event weights are not used (a warning says so); events outside the q² window raise
:class:`~hepc9.errors.DataError` or are dropped with a :class:`~hepc9.errors.DroppedRowsWarning`.

This module re-exports the public names of the modules that implement the fit, one job each:

=============  ===============================================================================
``packed``     packed symmetric forms: :func:`pack_matrices`, :func:`unpack`, :func:`monomials`
``kernels``    event sums of −ln L, gradient and Hessian (numba) and their numpy twins
``nll``        the FCN :class:`UnbinnedNLL`
``inputs``     :func:`check_free`, the fit window rule :func:`resolve_q2_range`,
               :func:`select_window`, :func:`event_coefficients`, :func:`model_normalisation`
``options``    :class:`FitOptions`, every option of a fit declared once
``results``    :class:`FitResult`, :class:`ScanResult`
``minimise``   Newton start, MIGRAD/HESSE/MINOS, result assembly, scans
``driver``     :class:`LikelihoodFit`, :func:`fit_events`
=============  ===============================================================================
"""

from __future__ import annotations

from hepc9.fit.driver import LikelihoodFit, fit_events
from hepc9.fit.inputs import (
    ANGLE_COLUMNS,
    check_free,
    event_coefficients,
    model_normalisation,
    resolve_q2_range,
    select_window,
)
from hepc9.fit.kernels import hessian_terms, hessian_terms_numpy, nll_terms, nll_terms_numpy
from hepc9.fit.nll import BACKGROUND_FRACTION, UnbinnedNLL
from hepc9.fit.options import FitOptions
from hepc9.fit.packed import monomial_jacobian, monomials, n_packed, pack_matrices, unpack
from hepc9.fit.results import FitResult, ScanResult

__all__ = [
    "ANGLE_COLUMNS",
    "BACKGROUND_FRACTION",
    "FitOptions",
    "FitResult",
    "LikelihoodFit",
    "ScanResult",
    "UnbinnedNLL",
    "check_free",
    "event_coefficients",
    "fit_events",
    "hessian_terms",
    "hessian_terms_numpy",
    "model_normalisation",
    "monomial_jacobian",
    "monomials",
    "n_packed",
    "nll_terms",
    "nll_terms_numpy",
    "pack_matrices",
    "resolve_q2_range",
    "select_window",
    "unpack",
]
