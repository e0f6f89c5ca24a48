"""Fast Belle II-like detector response for B0 → K*0(→K+π−)μ+μ− signal events.

For every event with lab four-vectors of the kaon, pion and the two muons the simulation
applies, in this order (numbers from :class:`hepc9.config.DetectorConfig`):

1. **Acceptance**: each track's true polar angle within the CDC acceptance 17°–150°.
2. **Momentum thresholds**: each track ``pT > pt_min`` (0.05 GeV, softer tracks curl in the
   CDC); muons ``p > 0.6`` GeV (the reference analysis; KLM reach), optional kaon/pion minima.
3. **Muon identification**: per muon
   ``ε_μ(p, θ) = plateau / (1 + exp(−(p − p_half)/width)) × (endcap factor outside 45°–125°)``;
   the event survives with probability ``ε_μ(μ+) ε_μ(μ−)``.
4. **Kaon identification**: ``ε_K(p) = clip(plateau − slope·p, 0, 1)`` (K/π separation
   degrades with momentum).
5. **Smearing** of each surviving track: ``pT → pT (1 + σ_rel z₁)`` with
   ``σ_rel = a·pT ⊕ b/β`` (the Belle II TDR form, arXiv:1011.0352; defaults a = 0.1 %/GeV,
   b = 0.3 %, the issue's "0.1 %·pT ⊕ 0.3 %" class), and the direction rotated by
   ``δφ = σ_dir z₂``, ``δθ = σ_dir z₃`` with ``σ_dir = c ⊕ d/(pβ)`` (c = 0.5 mrad intrinsic,
   d = 1.5 mrad·GeV multiple scattering; typical values, see physics.md §11.8).  The energy
   is recomputed from the measured momentum and the mass hypothesis of the track.
6. **Reconstruction**: q², m(Kπ) and the angles are recomputed from the smeared vectors with
   :func:`hepc9.kinematics.angles_from_four_vectors`;
   ``Mbc = √(E*_beam² − |Σp*|²)`` and ``ΔE = ΣE* − E*_beam`` in the nominal centre-of-mass
   frame (physics.md §8).

Acceptance and thresholds use the true momenta (the resolution is far below the cut
scales).  **Beam-energy spread**: the generated B carries the nominal beam energy, while a
real collision's energy differs from the nominal one used in the reconstruction by
``δ ~ N(0, σ(E*_beam))``; Mbc and ΔE are therefore evaluated with ``E*_beam − δ``, which
reproduces the correlated shifts ``ΔE → ΔE + δ``, ``Mbc → Mbc − δ·E*_beam/m_B`` to first
order.  ``σ(E*_beam)`` defaults to the spread implied by the two beams of the
:class:`~hepc9.kinematics.BeamSpec` (2.5 MeV for Belle II), giving σ(Mbc) ≈ 2.5 MeV and
σ(ΔE) ≈ 15–20 MeV as in physics.md §8.

The random numbers are drawn with numpy in a fixed order (two uniforms per event for the
identification, then thirteen normals per surviving event, large arrays in fixed blocks from
spawned child generators filled in parallel), and the per-event arithmetic runs
in numba kernels (:func:`simulate_detector`) or in their plain numpy twins
(``engine="numpy"``); both give the same result to rounding.

Modules
-------
=====================  =====================================================================
``response``           :func:`simulate_detector`: random draws and the steps above
``geometry``           acceptance, thresholds, identification probabilities (numba + twin)
``smearing``           track smearing, Mbc and ΔE (numba kernel + numpy twin)
``parametrisation``    resolution and identification formulas in numpy, beam-energy spread
``background_tracks``  :func:`accept_background`: track selection of background candidates
``efficiency``         :class:`EfficiencyTable`
``columns``            column names, cut-flow steps, input columns
=====================  =====================================================================

Every name stays importable from :mod:`hepc9.detector`.
"""

from __future__ import annotations

from hepc9.detector.background_tracks import accept_background
from hepc9.detector.columns import (
    ANGLE_COLUMNS,
    DETECTOR_STEPS,
    FOUR_VECTOR_COLUMNS,
)
from hepc9.detector.columns import BACKGROUND_INPUT_COLUMNS as BACKGROUND_INPUT_COLUMNS
from hepc9.detector.columns import _stack_tracks as _stack_tracks
from hepc9.detector.efficiency import EfficiencyTable
from hepc9.detector.geometry import _geometry_kernel as _geometry_kernel
from hepc9.detector.geometry import _geometry_numpy as _geometry_numpy
from hepc9.detector.geometry import _geometry_params as _geometry_params
from hepc9.detector.parametrisation import (
    beam_energy_spread,
    kaon_id_efficiency,
    muon_id_efficiency,
    pt_resolution,
)
from hepc9.detector.response import _NORMAL_BLOCK as _NORMAL_BLOCK
from hepc9.detector.response import _draw_normals as _draw_normals
from hepc9.detector.response import simulate_detector

__all__ = [
    "ANGLE_COLUMNS",
    "DETECTOR_STEPS",
    "FOUR_VECTOR_COLUMNS",
    "EfficiencyTable",
    "accept_background",
    "beam_energy_spread",
    "kaon_id_efficiency",
    "muon_id_efficiency",
    "pt_resolution",
    "simulate_detector",
]
