"""Unbinned 4D maximum-likelihood fit and the Cramér–Rao bound.

=================  ==========================================================================
``likelihood``     packed quadratic forms per event, −ln L with analytic gradient and Hessian
                   (numba + numpy twin), :class:`LikelihoodFit` (MIGRAD, HESSE, MINOS, scans),
                   :class:`FitResult`
``precompute``     spline table of the J_i matrices: fast per-event quadratic forms (numba)
``acceptance``     efficiency-corrected normalisation from a reconstructed simulation sample
``templates``      smooth background templates fitted to Mbc-sideband events
``fisher``         Fisher information and :func:`cramer_rao` (σ_CRB for N events)
``toys``           seeded, parallel ensembles of pseudo-experiments (:func:`fit_toys`)
=================  ==========================================================================
"""

from __future__ import annotations

from hepc9.fit.acceptance import AcceptanceSample, acceptance_sample
from hepc9.fit.fisher import CRBResult, cramer_rao, fisher_information
from hepc9.fit.likelihood import (
    BACKGROUND_FRACTION,
    FitResult,
    LikelihoodFit,
    ScanResult,
    UnbinnedNLL,
    event_coefficients,
    fit_events,
    model_normalisation,
)
from hepc9.fit.precompute import CoefficientTable
from hepc9.fit.templates import BackgroundTemplate, fit_template
from hepc9.fit.toys import ToyResults, fit_toys

__all__ = [
    "BACKGROUND_FRACTION",
    "AcceptanceSample",
    "BackgroundTemplate",
    "CRBResult",
    "CoefficientTable",
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
