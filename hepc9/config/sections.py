"""Sections of the event chain: one frozen dataclass per TOML table.

``[physics]``, ``[generate]``, ``[ingest]``, ``[detector]``, ``[background]``, ``[selection]``
and ``[datasets]``.  Field defaults *are* the defaults; a configuration file lists only what
differs.  The estimator, evaluation and execution sections live in :mod:`hepc9.config.study`,
the whole configuration in :mod:`hepc9.config.root`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BackgroundConfig",
    "DatasetsConfig",
    "DetectorConfig",
    "GenerateConfig",
    "IngestConfig",
    "PhysicsConfig",
    "SelectionConfig",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PhysicsConfig:
    """Physics model: the seed generator (basf2 ``BTOSLLNPR``) constants, optionally overridden.

    ``constants`` maps names of :class:`hepc9.physics.constants.ModelConstants` fields to new
    values, e.g. ``{ c9_sm = 4.211, m_b_quark = 4.8 }``; unknown names fail when the model is
    built.
    """

    constants: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateConfig:
    """Event generation (physics.md §2–§5): Wilson-coefficient point, q² window, flavours."""

    events: int = 100_000
    dc7: float = 0.0
    dc9: float = 0.0
    dc10: float = 0.0
    c7p: float = 0.0
    c9p: float = 0.0
    c10p: float = 0.0
    #: ``b0``, ``b0bar`` or ``both`` (50/50, conjugate angle convention for B̄0).
    flavour: Literal["b0", "b0bar", "both"] = "b0"
    #: q² window in GeV²; ``None`` means the kinematic limit.
    q2_min: float | None = None
    q2_max: float | None = None
    #: ``narrow`` (m(Kπ) = m_K*) or ``relbw`` (relativistic Breit–Wigner, physics.md §5.5).
    line_shape: Literal["narrow", "relbw"] = "narrow"
    #: Density the events are drawn from: ``rate`` (the decay rate: physics samples),
    #: ``flat_angles`` (the rate's q² spectrum, flat in cosθℓ, cosθK, χ) or ``mixture`` (½ of
    #: each); the flat ones are proposals for efficiency samples (hepc9.generate.density).
    density: Literal["rate", "flat_angles", "mixture"] = "rate"
    #: Also write lab-frame four-vectors (Υ(4S) at Belle II energies).
    four_vectors: bool = False
    #: Events per independently seeded chunk (fixes the random streams, not the threads).
    chunk_size: int = 262_144
    #: Worker threads; 0 means all cores numba sees.
    threads: int = 0
    #: Initial points of the q² table of the fast sampler (refined adaptively to a relative
    #: interpolation error ≤ 1e-6 of the local rate; see hepc9.generate.sampler.Q2Table).
    q2_grid_points: int = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestConfig:
    """Reading foreign ntuples (formats.md §3)."""

    #: Input layout; ``auto`` detects native, basf2 and EvtGen ``ntp`` files (flat: ``columns``).
    layout: Literal["auto", "native", "basf2", "evtgen", "flat"] = "auto"
    #: Tree to read; ``None``: the layout's default (``det`` then ``gen``, ``ntp``, ``events``).
    tree: str | None = None
    #: One candidate per event: ``best`` (smallest tfRedChiSqB0, else |ΔE|), ``first``
    #: (``__candidate__ == 0``), ``random`` (seeded) or ``all`` (keep every candidate).
    candidate: Literal["best", "first", "random", "all"] = "best"
    #: Rows with NaN/inf in a required column: ``drop`` them (one warning) or ``fail``.
    on_nonfinite: Literal["drop", "fail"] = "drop"
    #: Unit of the stored momenta, energies, Mbc and ΔE; MeV values are divided by 1000.
    energy_unit: Literal["GeV", "MeV"] = "GeV"
    #: Flavour rule of flat tables ``{column = "B_ID", kind = "pdg" | "sign"}`` or ``{value = 1}``;
    #: for EvtGen ``ntp`` files ``{value = -1}`` states an anti-B0 parent (default +1).
    flavour: dict[str, Any] = field(default_factory=dict)
    #: Flat tables: native name → branch (four-vectors ``k_e``…``mum_pz``; optional
    #: ``*_true``, ``weight``, ``mbc``, ``delta_e``, ``is_signal``, ``experiment``, ``run``,
    #: ``event``, ``rank``).
    columns: dict[str, str] = field(default_factory=dict)
    #: Entries read per chunk (bounds the memory of ``convert`` on large files).
    step_size: int = 1_000_000
    #: EvtGen ``ntp`` only: whether the generator ran with ``-v`` (charmonium q² vetoes);
    #: recorded in the metadata, ``None`` when unknown.
    ntp_q2_veto: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorConfig:
    """Fast Belle II-like detector response (see :mod:`hepc9.detector`).

    Acceptance and thresholds act on the true lab momenta, efficiencies are drawn per track,
    then every track is smeared in transverse momentum and direction.  The resolution is
    σ(pT)/pT = a·pT ⊕ b/β (Belle II TDR form, arXiv:1011.0352) and σ(θ) = σ(φ) = c ⊕ d/(pβ).
    """

    enabled: bool = False
    #: Polar-angle acceptance of every track in degrees (Belle II CDC: 17°–150°).
    theta_min_deg: float = 17.0
    theta_max_deg: float = 150.0
    #: Minimum transverse momentum of every track in GeV (softer tracks curl in the CDC).
    pt_min: float = 0.05
    #: Minimum momentum in GeV of each muon, kaon and pion (muons: reference analysis, p > 0.6).
    p_min_muon: float = 0.6
    p_min_kaon: float = 0.0
    p_min_pion: float = 0.0
    #: σ(pT)/pT = a·pT ⊕ b/β: a in GeV⁻¹ (curvature term), b (multiple scattering).
    pt_resolution_a: float = 0.001
    pt_resolution_b: float = 0.003
    #: σ(θ) = σ(φ) = c ⊕ d/(pβ): c in rad, d in rad·GeV.
    angle_resolution_c: float = 0.0005
    angle_resolution_d: float = 0.0015
    #: Muon identification efficiency per muon: plateau × logistic turn-on in p (KLM reach,
    #: half-way point and width in GeV; width 0 is a sharp step); the endcap factor applies
    #: outside the KLM barrel (45°–125°).
    muon_id_plateau: float = 0.92
    muon_id_p_half: float = 0.75
    muon_id_p_width: float = 0.08
    muon_id_endcap_factor: float = 0.95
    #: Kaon identification efficiency: plateau − slope·p (GeV⁻¹), clipped to [0, 1].
    kaon_id_plateau: float = 0.90
    kaon_id_slope: float = 0.02
    #: Gaussian spread σ(E*_beam) in GeV entering Mbc and ΔE; ``None`` takes the beam's own.
    beam_energy_spread: float | None = None
    #: Events per independently seeded chunk of the detector simulation.
    chunk_size: int = 1_000_000
    #: Bins per variable of the efficiency tables (q², cos θℓ, cos θK, χ).
    efficiency_bins: int = 10
    #: Generator density of the study's efficiency (acceptance) sample ([generate] density
    #: values); the default ``flat_angles`` gives 2.4–2.7× the Kish effective size of
    #: ``rate`` for the same events and a 15–30 % smaller efficiency error (docs/fit.md).
    efficiency_density: Literal["rate", "flat_angles", "mixture"] = "flat_angles"


@dataclass(frozen=True, slots=True, kw_only=True)
class BackgroundConfig:
    """Combinatorial background and its Mbc sideband (see :mod:`hepc9.background`)."""

    enabled: bool = False
    #: Background fraction in the signal region.
    fraction: float = 0.44
    #: ARGUS curvature c < 0 of the Mbc shape (RooArgusBG; endpoint E*_beam, physics.md §8).
    argus_c: float = -20.0
    #: Lower Mbc edge (GeV) of the region in which background is generated.
    mbc_min: float = 5.20
    #: ΔE range (GeV) in which background is generated and its linear slope (GeV⁻¹):
    #: density ∝ 1 + slope·ΔE.
    delta_e_range: tuple[float, float] = (-0.20, 0.20)
    delta_e_slope: float = -2.0
    #: m(Kπ) range (GeV) of the background and its linear slope (GeV⁻¹) about the centre.
    mkpi_range: tuple[float, float] = (0.792, 0.992)
    mkpi_slope: float = 0.0
    #: Legendre coefficients c1, c2, ... of the densities 1 + Σ c_n P_n(x); q² is mapped
    #: linearly from [4m_μ², (m_B − m_K*)²] to x ∈ [−1, 1].  cos θK leans to +1 (soft pion).
    q2_legendre: tuple[float, ...] = (-0.3,)
    costheta_l_legendre: tuple[float, ...] = (0.0, -0.2)
    costheta_k_legendre: tuple[float, ...] = (0.5, 0.2)
    #: Coefficients a1, a2, ... of the χ density 1 + Σ a_n cos(nχ) (flat-ish).
    chi_cosines: tuple[float, ...] = (0.0, 0.05)
    #: Strength s (|s| ≤ 1) of Mbc-dependent q² and angular shapes, a test of the sideband
    #: method (hepc9.background.mbc_correlation); 0 = independent shapes (unchanged draws).
    mbc_shape_strength: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectionConfig:
    """Signal region and Mbc sideband (physics.md §8).

    Mbc and ΔE windows are open intervals (``5.27 < Mbc``, ``|ΔE| < 0.05``,
    ``5.20 < Mbc < 5.26``); the K* window is closed (``|m(Kπ) − 0.892| ≤ 0.10``).
    """

    #: Signal region: Mbc > mbc_signal_min (GeV).
    mbc_signal_min: float = 5.27
    #: Signal region and sideband: |ΔE| < delta_e_max (GeV).
    delta_e_max: float = 0.05
    #: Mbc sideband (low, high) in GeV, same ΔE window as the signal region.
    mbc_sideband: tuple[float, float] = (5.20, 5.26)
    #: K* window: |m(Kπ) − mkpi_centre| ≤ mkpi_window (GeV).
    mkpi_window: float = 0.10
    mkpi_centre: float = 0.892


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetsConfig:
    """Images and event sets (see :mod:`hepc9.datasets`, formats.md §5, physics.md §10)."""

    #: What to build: quasi-images ``(N, X, Y, Z, C)`` or event sets ``(N, n, F)``.
    kind: Literal["images", "sets"] = "images"
    #: Voxels along (cos θℓ, cos θK, χ).
    bins: tuple[int, int, int] = (50, 50, 50)
    #: Axis ranges; cosines are closed intervals, χ over [0, 2π] is periodic (wraps).
    costheta_l_range: tuple[float, float] = (-1.0, 1.0)
    costheta_k_range: tuple[float, float] = (-1.0, 1.0)
    chi_range: tuple[float, float] = (0.0, 6.283185307179586)
    #: Image channels, in order: ``q2_mean count occupancy q2_std background
    #: background_q2_mean`` (see :mod:`hepc9.datasets.voxelize`).
    channels: tuple[str, ...] = ("q2_mean", "count")
    #: Separate signal channels for B0 and B̄0 instead of pooling them (angles are already in
    #: the conjugate convention, so pooling is correct).
    flavour_channels: bool = False
    #: q² normalisation fixed once: ``q2max`` (q²/q²_max of physics.md §1.2) or ``standard``
    #: ((q² − mean)/std of a reference sample with its own random stream).
    q2_normalisation: Literal["q2max", "standard"] = "q2max"
    #: Value of mean/std channels in empty voxels (0 lies below every q²/q²_max value).
    empty_value: float = 0.0
    #: On-disk feature dtype.
    dtype: Literal["float16", "float32"] = "float16"
    #: Label grid: ``paper22`` (round(linspace(−2.0, 1.1, 22), 2); the paper's exact values are
    #: not published), ``lee44`` (round(linspace(−2.0, 1.1, 43), 2) plus 0.0) or ``custom``.
    grid: Literal["paper22", "lee44", "custom"] = "paper22"
    #: δC9 values of the ``custom`` grid.
    labels: tuple[float, ...] = ()
    #: Add the midpoints between neighbouring grid values to the test split (paper: test
    #: images at values between the training points).
    test_midpoints: bool = True
    #: Further δC9 values of the test split only.
    test_extra_labels: tuple[float, ...] = (0.0,)
    #: Events per image or per set (paper: ≈ 2.4×10⁴).
    events_per_image: int = 24_000
    #: Images (or sets) per label in each split (paper: 2640 / 720 / 900).
    train_per_label: int = 2640
    validation_per_label: int = 720
    test_per_label: int = 900
    #: Images per chunk file; fixes the random streams (spawn key (label, chunk)).
    items_per_chunk: int = 64
    #: Events of the reference sample (``standard`` normalisation, set statistics).
    reference_events: int = 1_000_000
    #: δC9 of the reference sample (label-independent by construction).
    reference_dc9: float = 0.0
    #: Per-event features of event sets: ``q2 costheta_l costheta_k chi cos_chi sin_chi mkpi
    #: flavour``; each standardised with the reference statistics (flavour is kept as ±1).
    set_features: tuple[str, ...] = ("q2", "costheta_l", "costheta_k", "cos_chi", "sin_chi")
    #: Worker threads of the numba voxeliser; 0 means all cores numba sees.
    threads: int = 0
    #: δC9 prior of streamed training items: ``uniform`` on ``prior_range`` (continuous
    #: labels; regression networks and the event classifier's fine bins) or ``grid`` (the
    #: label grid above, as the stored builds use).
    prior: Literal["uniform", "grid"] = "uniform"
    #: Interval of the ``uniform`` prior; choose it ≥ 3σ wider than the evaluated truths.
    prior_range: tuple[float, float] = (-2.5, 1.5)
    #: Spacing of the ``uniform`` prior's lattice: labels are drawn uniformly from
    #: ``low + k·step`` inside ``prior_range`` (0: exactly continuous).  Every distinct δC9
    #: needs its own sampler table (≈ 0.2 s to build), so a lattice lets streamed training reuse
    #: them; a spacing well below the set's resolution (0.05 against σ ≈ 0.17 at 2000 events
    #: or ≈ 0.05 at 24 000) is indistinguishable from a continuous prior for the estimators.
    prior_step: float = 0.05
    #: Streamed detector-level items with background: draw the background fraction of each
    #: item uniformly on this interval (``[]``: always ``[background] fraction``).
    background_fraction_range: tuple[float, ...] = ()
