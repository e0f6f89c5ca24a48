"""Combinatorial B B̄ background: native detector-level columns drawn from smooth shapes.

Every variable is drawn independently by an exact inverse-CDF method (physics.md §8):

* **Mbc**: ARGUS shape ``m √(1 − (m/m0)²) exp[c (1 − (m/m0)²)]`` (RooArgusBG, power ½) with
  endpoint ``m0 = E*_beam = √s/2`` of the beam, truncated to ``[mbc_min, m0]``.  With
  ``t = 1 − (m/m0)²`` the density becomes ``√t e^{c t}``, a Gamma(3/2) distribution of rate
  ``−c`` truncated to ``t ≤ 1 − (mbc_min/m0)²``, which is inverted with the regularised
  incomplete gamma function.  ``scipy.stats.argus(χ, scale=m0)`` is the same shape with
  ``c = −χ²/2``.
* **ΔE** and **m(Kπ)**: linear densities ``1 + slope·(x − x0)`` (x0 = 0 for ΔE, the middle of the
  range for m(Kπ)); the quadratic CDF is inverted in closed form.
* **q², cos θℓ, cos θK**: ``1 + Σ c_n P_n(x)`` (Legendre series, x ∈ [−1, 1]; q² mapped linearly
  from the narrow-K* kinematic range of physics.md §1.2), **χ**: ``1 + Σ a_n cos(nχ)``.  Their
  CDFs are inverted by interpolation in a fine table followed by Newton steps (exact to
  rounding).
* ``flavour`` is ±1 with probability ½ each; ``is_signal = 0``; every ``<name>_true`` is NaN.

Yield: for a background fraction f in the signal region and ``n_sig`` signal events there,
``n_bkg(SR) = f/(1 − f) · n_sig``; since the background is generated over the whole
Mbc × ΔE × m(Kπ) region of :class:`hepc9.config.BackgroundConfig` (so that the sideband gets its
ARGUS share), the number to generate is ``n_bkg(SR) / P(SR)`` with the exact probability
content ``P(SR)`` of the signal region under the shapes (:func:`background_yield`).

The shapes describe candidates *before* the track selection: combinatorial candidates are made
of real tracks, which pass the same acceptance, momentum thresholds and identification as the
signal's.  Detector-level samples therefore keep only the candidates accepted by
:func:`hepc9.detector.accept_background` (applied by the callers, :mod:`hepc9.pipeline.simulate`,
:mod:`hepc9.pipeline.detector_sets` and :mod:`hepc9.datasets.build`), which keeps about half of
them and removes large ``|cos θℓ|`` at low q² as for the signal; the callers draw until the
wanted number of accepted signal-region candidates is reached.

Modules: :mod:`hepc9.background.shapes` (the inverse-CDF samplers of the shapes) and
:mod:`hepc9.background.model` (region fractions, yields, :func:`generate_background`); every
name stays importable from :mod:`hepc9.background`.
"""

from __future__ import annotations

from hepc9.background.model import (
    BACKGROUND_COLUMNS,
    background_yield,
    generate_background,
    region_fraction,
)
from hepc9.background.shapes import _p32 as _p32
from hepc9.background.shapes import (
    argus_cdf,
    cosine_cdf,
    legendre_cdf,
    linear_cdf,
    sample_argus,
    sample_cosine,
    sample_legendre,
    sample_linear,
)

__all__ = [
    "BACKGROUND_COLUMNS",
    "argus_cdf",
    "background_yield",
    "cosine_cdf",
    "generate_background",
    "legendre_cdf",
    "linear_cdf",
    "region_fraction",
    "sample_argus",
    "sample_cosine",
    "sample_legendre",
    "sample_linear",
]
