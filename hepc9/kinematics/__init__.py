"""Angles ↔ four-vectors, Lorentz boosts and the Belle II beam frame.

This is the only place where hepc9 turns four-momenta into the decay angles of
B0 → K*0(→ K+ π−) μ+ μ− and back, so one convention holds everywhere (physics.md §1.3,
formats.md §2): the LHCb convention of arXiv:1304.6325 (App. A), with the conjugate
definition for B̄0 (conjugate particles in every role and sin φ negated).

Conventions
-----------
* Four-vectors are float64 arrays of shape ``(n, 4)`` ordered ``(E, px, py, pz)`` in GeV;
  the metric is (+, −, −, −).
* ``boost(p4, beta)`` is an *active* boost: a particle at rest ends up moving with velocity
  ``beta``.  Going into the rest frame of a system moving with ``beta`` is ``boost(p4, -beta)``.
* ``flavour`` is +1 for B0 → K+ π− μ+ μ− and −1 for B̄0 → K− π+ μ− μ+.  The keys ``"k"`` and
  ``"pi"`` hold the kaon and pion of the decay whatever their charge; ``"mup"`` and ``"mum"``
  hold the physical μ+ and μ−.
* χ = φ mod 2π ∈ [0, 2π), with a value that rounds to exactly 2π set to 0.

Angles are computed with sequential boosts lab → B → pair frame; all axes and plane normals
are taken in the B frame (never lab → pair directly: the Wigner rotation would bias the
angles, formats.md §6).

Fast paths and twins
--------------------
=====================================  =================================================
numba (parallel over events)           plain numpy twin (same results to ~1e-12)
=====================================  =================================================
:func:`four_vectors_from_angles`       :func:`four_vectors_from_angles_numpy`
:func:`to_lab`                         :func:`to_lab_numpy` (same random draws)
:func:`angles_from_four_vectors`       :func:`angles_from_four_vectors_numpy` (``vector``)
=====================================  =================================================

:func:`invariant_cosines` (physics.md §1.3 Lorentz-invariant formulas) is an independent
cross-check of the boost recipe.  Degenerate or non-finite input four-vectors give NaN
angles rather than an exception, so truth columns that are NaN for background pass through.

Beam
----
:data:`BELLE2` describes SuperKEKB at the Υ(4S) as the Belle II software (basf2
``beamparameters.py``, presets ``SuperKEKB`` and ``Y4S``) does: nominal beam energies
7.0 GeV (HER, e−) and 4.0 GeV (LER, e+), scaled to 7.004 and 4.002 GeV so that √s equals
m(Υ(4S)) = 10.5794 GeV; a full horizontal crossing angle of 83 mrad, each beam at
41.5 mrad to the Belle II z axis (the HER at +41.5 mrad, the LER at π − 41.5 mrad around
the y axis); beam-energy spreads of 5.13 MeV (HER) and 2.375 MeV (LER).

Modules
-------
==========  ==============================================================================
``boosts``  Lorentz boosts, input checks, particle masses and keys
``beams``   :class:`BeamSpec`, :data:`BELLE2`, beam four-momenta, :func:`lab_to_cm`
``decay``   angles → four-momenta in the B frame (:func:`four_vectors_from_angles` + twin)
``lab``     B frame → lab: B directions and velocities (:func:`to_lab` + twin, rotations)
``angles``  four-momenta → angles (:func:`angles_from_four_vectors` + twin), invariants
==========  ==============================================================================

Every name stays importable from :mod:`hepc9.kinematics`.
"""

from __future__ import annotations

from hepc9.kinematics.angles import (
    angles_from_four_vectors,
    angles_from_four_vectors_numpy,
    invariant_cosines,
)
from hepc9.kinematics.beams import BELLE2, M_ELECTRON, BeamSpec, lab_to_cm
from hepc9.kinematics.boosts import M_B0, M_K, M_MU, M_PI, PARTICLE_KEYS, boost
from hepc9.kinematics.boosts import _wrap_chi as _wrap_chi
from hepc9.kinematics.decay import four_vectors_from_angles, four_vectors_from_angles_numpy
from hepc9.kinematics.lab import _sample_costheta as _sample_costheta
from hepc9.kinematics.lab import random_rotations, to_lab, to_lab_numpy

__all__ = [
    "BELLE2",
    "M_B0",
    "M_ELECTRON",
    "M_K",
    "M_MU",
    "M_PI",
    "PARTICLE_KEYS",
    "BeamSpec",
    "angles_from_four_vectors",
    "angles_from_four_vectors_numpy",
    "boost",
    "four_vectors_from_angles",
    "four_vectors_from_angles_numpy",
    "invariant_cosines",
    "lab_to_cm",
    "random_rotations",
    "to_lab",
    "to_lab_numpy",
]
