"""Unbinned 4D maximum-likelihood fit and the Cramér–Rao bound.

===================  ==========================================================================
``likelihood``       the public face of the fit: re-exports the names of the modules below
                     (``from hepc9.fit.likelihood import fit_events`` keeps working)
``packed``           packed symmetric quadratic forms and their monomials
``kernels``          event sums of −ln L, gradient and Hessian (numba) and their numpy twins
``nll``              the FCN :class:`UnbinnedNLL` (−ln L with analytic gradient and Hessian)
``inputs``           free-parameter names, the fit window rule, event checks, per-event forms,
                     model normalisation
``options``          :class:`FitOptions`: every option of one fit, declared once
``results``          :class:`FitResult`, :class:`ScanResult`
``minimise``         Newton start, MIGRAD/HESSE/MINOS, result assembly, likelihood scans
``driver``           :class:`LikelihoodFit` and :func:`fit_events`
``precompute``       spline table of the J_i matrices: fast per-event quadratic forms (numba)
``acceptance``       efficiency-corrected normalisation from a reconstructed simulation sample
``templates``        smooth background templates fitted to Mbc-sideband events
``template_scan``    template orders chosen from the sideband (BIC/AIC/LRT forward scan)
``sideband_slices``  template extrapolated from two Mbc slices of the sideband
``uncertainty``      template and efficiency components of the fit error
``fisher``           Fisher information and :func:`cramer_rao` (σ_CRB for N events)
``toys``             seeded, parallel ensembles of pseudo-experiments (:func:`fit_toys`)
===================  ==========================================================================
"""

from __future__ import annotations

from hepc9.fit.acceptance import AcceptanceSample, acceptance_sample
from hepc9.fit.driver import LikelihoodFit, fit_events
from hepc9.fit.fisher import CRBResult, cramer_rao, fisher_information
from hepc9.fit.inputs import event_coefficients, model_normalisation
from hepc9.fit.nll import BACKGROUND_FRACTION, UnbinnedNLL
from hepc9.fit.options import FitOptions
from hepc9.fit.precompute import CoefficientTable
from hepc9.fit.results import FitResult, ScanResult
from hepc9.fit.templates import BackgroundTemplate, fit_template
from hepc9.fit.toys import ToyResults, fit_toys

__all__ = [
    "BACKGROUND_FRACTION",
    "AcceptanceSample",
    "BackgroundTemplate",
    "CRBResult",
    "CoefficientTable",
    "FitOptions",
    "FitResult",
    "LikelihoodFit",
    "ScanResult",
    "ToyResults",
    "UnbinnedNLL",
    "acceptance_sample",
    "cramer_rao",
    "event_coefficients",
    "fisher_information",
    "fit_events",
    "fit_template",
    "fit_toys",
    "model_normalisation",
]
