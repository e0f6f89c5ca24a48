"""Run configuration: TOML files read into frozen dataclasses, one per section.

Field defaults *are* the defaults; a configuration file lists only what differs.  Unknown
sections or keys and values of the wrong type fail before any work starts, naming the file,
the section, the key and the closest valid key.  ``--set section.key=value`` overrides parse
their value as TOML.

``python -m hepc9 config show FILE`` prints the resolved configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hepc9.errors import ConfigError, did_you_mean

__all__ = [
    "BackgroundConfig",
    "Config",
    "DatasetsConfig",
    "DetectorConfig",
    "EvaluateConfig",
    "FitConfig",
    "GenerateConfig",
    "IngestConfig",
    "ModelConfig",
    "PhysicsConfig",
    "PlotsConfig",
    "ScaleConfig",
    "SelectionConfig",
    "TrainConfig",
    "config_digest",
    "load_config",
    "parse_override",
]

CONFIG_VERSION = 1
_section = dataclass(frozen=True, slots=True, kw_only=True)


@_section
class PhysicsConfig:
    """Physics model: the seed generator (basf2 ``BTOSLLNPR``) constants, optionally overridden.

    ``constants`` maps names of :class:`hepc9.physics.constants.ModelConstants` fields to new
    values, e.g. ``{ c9_sm = 4.211, m_b_quark = 4.8 }``; unknown names fail when the model is
    built.
    """

    constants: dict[str, float] = field(default_factory=dict)


@_section
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
    #: Also write lab-frame four-vectors (Υ(4S) at Belle II energies).
    four_vectors: bool = False
    #: Events per independently seeded chunk (fixes the random streams, not the threads).
    chunk_size: int = 262_144
    #: Worker threads; 0 means all cores numba sees.
    threads: int = 0
    #: Initial points of the q² table of the fast sampler (refined adaptively to a relative
    #: interpolation error ≤ 1e-6 of the local rate; see hepc9.generate.sampler.Q2Table).
    q2_grid_points: int = 4096


@_section
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


@_section
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


@_section
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


@_section
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


@_section
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


@_section
class ModelConfig:
    """Neural network architecture (see :mod:`hepc9.models`)."""

    #: Registry name of the builder: ``resnet3d``, ``deepsets`` or ``event``.
    name: str = "resnet3d"
    #: ResNet depth: 10, 18 or 34 (basic blocks 1/1/1/1, 2/2/2/2, 3/4/6/3; papers/002 uses 34).
    depth: int = 34
    #: Width multiplier of every convolution (1.0 = 64/128/256/512 filters as in papers/002).
    width: float = 1.0
    #: Stem convolution: filters before the width multiplier, kernel size and stride (papers/002).
    stem_filters: int = 64
    stem_kernel: int = 7
    stem_stride: int = 2
    #: Max pooling after the stem: pool size and stride; 0 disables it (papers/002: 3 and 2).
    stem_pool: int = 3
    stem_pool_stride: int = 2
    #: Units of the dense layer after global average pooling (papers/002: 1000).
    dense_units: int = 1000
    #: Dropout rate after the dense layer (papers/002: 0.5).
    dropout: float = 0.5
    #: Deep Sets: hidden widths of the per-event network φ and the set network ρ (papers/003).
    phi_units: tuple[int, ...] = (32, 32)
    rho_units: tuple[int, ...] = (32, 32)
    #: Deep Sets: rows whose features are all exactly ``0`` are padding, left out of the mean.
    mask_padding: bool = False
    #: Event classifier: hidden widths of the per-event network (papers/003: 4 → 32 → 32 → K).
    event_units: tuple[int, ...] = (32, 32)


@_section
class TrainConfig:
    """Training (see :mod:`hepc9.train`)."""

    #: Keras backend: ``auto`` (``KERAS_BACKEND``, else TensorFlow), ``tensorflow``, ``jax``
    #: or ``torch``.
    backend: str = "auto"
    #: Optimiser and its learning rate (papers/002: SGD; Keras' default SGD rate 0.01).
    optimizer: Literal["sgd", "adam"] = "sgd"
    learning_rate: float = 0.01
    #: SGD momentum (papers/002: plain SGD, 0).
    momentum: float = 0.0
    #: Regression loss: mean absolute (papers/002) or mean squared error; the event
    #: classifier always uses the cross-entropy over the label grid.
    loss: Literal["mae", "mse"] = "mae"
    #: Items per batch (papers/002: 128).
    batch_size: int = 128
    #: Events per batch of the event classifier, which trains on single events (papers/003
    #: code: 10 000).
    event_batch_size: int = 10_000
    #: Maximum number of epochs (papers/002: 1000).
    epochs: int = 1000
    #: Learning rate times ``reduce_lr_factor`` after ``reduce_lr_patience`` epochs without
    #: validation improvement, down to ``min_lr`` (papers/002: 0.2, 5, 1e-6).
    reduce_lr_factor: float = 0.2
    reduce_lr_patience: int = 5
    min_lr: float = 1e-6
    #: Stop after this many epochs without validation improvement, keeping the best weights
    #: (papers/002: 20).
    early_stopping_patience: int = 20
    restore_best_weights: bool = True
    #: Fraction of a stored dataset kept for validation when it has no validation split.
    validation_fraction: float = 0.2
    #: Train on standardised labels (δC9 − mean) / std; the constants travel with the model.
    standardize_labels: bool = True
    #: Mixed float16 compute (GPU only; weights and the output stay float32).
    mixed_precision: bool = False
    #: Shuffle the training items every epoch (seeded by the run seed and the epoch number).
    shuffle: bool = True
    #: Streamed training: batches per epoch and validation batches drawn fresh from the sampler.
    steps_per_epoch: int = 100
    validation_steps: int = 20
    #: Ensemble member index; selects the member's random stream (weights, shuffling).
    member: int = 0
    #: Event classifier: calibrate set posteriors with per-class offsets fitted on the
    #: validation sets (summing n per-event log-probabilities multiplies their errors by n).
    calibrate_sets: bool = True


@_section
class FitConfig:
    """Unbinned maximum-likelihood fit (see :mod:`hepc9.fit`)."""

    #: Free Wilson-coefficient shifts (any of dc7 dc9 dc10 c7p c9p c10p); the others are fixed.
    free: tuple[str, ...] = ("dc9",)
    #: Fit window in GeV²; ``None`` means the kinematic limit (the seed images use everything).
    q2_min: float | None = None
    q2_max: float | None = None
    #: Events outside the window: ``raise`` (error) or ``drop`` (with a DroppedRowsWarning).
    outside: Literal["raise", "drop"] = "raise"
    #: Smallest number of events accepted for a fit.
    min_events: int = 10
    #: Also compute MINOS intervals.
    minos: bool = False
    #: Minuit strategy (0 fast, 1 default, 2 careful).
    strategy: int = 1
    #: Use the per-event m(Kπ) in kinematics and form factors instead of m_K* (line-shape samples).
    use_mkpi: bool = False
    #: Where the acceptance normalisation evaluates the model: ``reco`` (acceptance folded with
    #: resolution) or ``true`` (resolution ignored); see hepc9.fit.acceptance.
    efficiency_evaluate: Literal["reco", "true"] = "reco"
    #: Background template orders: Legendre in q², cosθℓ, cosθK and χ harmonics (physics.md §8).
    template_orders: tuple[int, int, int, int] = (2, 2, 2, 1)
    #: Background fraction in the signal region: start value (free) or fixed value; ``None``
    #: starts at 0.1 when a sideband is given.
    background_fraction: float | None = None
    #: σ of a Gaussian constraint on the background fraction (``None``: unconstrained).
    background_fraction_error: float | None = None
    #: Keep the background fraction fixed at ``background_fraction``.
    fix_background_fraction: bool = False
    #: Cramér–Rao quadrature nodes: per q² segment, cosθℓ, cosθK, χ.
    fisher_nodes: tuple[int, int, int, int] = (32, 24, 24, 24)


@_section
class EvaluateConfig:
    """Evaluation ensembles of independent pseudo-experiments (see :mod:`hepc9.evaluate`)."""

    #: Estimators to train and evaluate: ``fit`` (unbinned likelihood), ``resnet3d``,
    #: ``deepsets``, ``event`` (event-by-event classifier).
    methods: tuple[str, ...] = ("fit", "resnet3d", "deepsets", "event")
    #: True δC9 values of the pseudo-experiments; empty means the dataset's test labels.
    truths: tuple[float, ...] = ()
    #: True values of the comparison table (papers/003: the new-physics point −0.82).
    comparison_truths: tuple[float, ...] = (0.0, -0.82)
    #: Events per pseudo-experiment (the first is the main one; all enter σ versus N).
    events_per_set: tuple[int, ...] = (24_000, 8_000)
    #: Further set sizes evaluated with the likelihood fit only (with their Cramér–Rao
    #: bounds), for the σ ∝ 1/√N check without training more networks.
    fit_scaling_events: tuple[int, ...] = ()
    #: Independent pseudo-experiments per true value (papers/002: 900).
    sets_per_truth: int = 900
    #: Levels to evaluate: ``gen`` and, with [detector] enabled, ``det`` (detector response,
    #: background mixed at [background] fraction, signal region).
    levels: tuple[str, ...] = ("gen",)
    #: Model events for the Fisher information (Cramér–Rao bound) Monte Carlo.
    crb_events: int = 400_000
    #: Events of the SM and BSM samples drawn in the distributions figure.
    distribution_events: int = 200_000
    #: δC9 of the BSM sample of the distributions figure.
    bsm_dc9: float = -0.82
    #: Run MINOS for every fit of the ensembles (coverage of the likelihood intervals).
    minos: bool = True


@_section
class PlotsConfig:
    """Figures (see :mod:`hepc9.plots`)."""

    formats: tuple[str, ...] = ("png", "pdf")


@_section
class ScaleConfig:
    """Scale-out: how independent chunks are executed."""

    executor: Literal["serial", "processes", "dask"] = "processes"
    workers: int = 0
    scheduler_address: str | None = None


@_section
class Config:
    """The whole resolved configuration of a run."""

    config_version: int = CONFIG_VERSION
    seed: int = 20240917
    name: str = "hepc9"
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    datasets: DatasetsConfig = field(default_factory=DatasetsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    plots: PlotsConfig = field(default_factory=PlotsConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON-compatible data."""
        return _to_plain(self)

    def digest(self) -> str:
        """Return ``sha256:<hex>`` of the canonical JSON of the configuration."""
        return config_digest(self)

    def replace(self, **sections: Any) -> Config:
        """Return a copy with whole sections or top-level fields replaced."""
        return dataclasses.replace(self, **sections)


# --------------------------------------------------------------------------------------------
# conversion and validation
# --------------------------------------------------------------------------------------------


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    return obj


def config_digest(cfg: Config | Mapping[str, Any]) -> str:
    """Return ``sha256:<hex>`` of the canonical JSON form of a configuration.

    Parameters
    ----------
    cfg : Config or mapping
        Configuration to digest.

    Returns
    -------
    str
    """
    plain = cfg.to_dict() if isinstance(cfg, Config) else _to_plain(cfg)
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists → tuples)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} = {value!r} has the wrong type; expected {_type_name(tp)}")
    if origin is Literal:
        if value not in args:
            hint = did_you_mean(value, args)
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where} = {value!r} is not one of {allowed}{hint}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} = {value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} = {value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} = {value!r} must be a number")
        if not math.isfinite(value):
            raise ConfigError(f"{where} = {value!r} must be finite")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} = {value!r} must be a string")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} = {value!r} must be an array")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} = {value!r} must have {len(args)} elements")
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in pairs)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} = {value!r} must be an array")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} = {value!r} must be a table")
        return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    raise ConfigError(f"{where}: unsupported configuration type {tp!r}")  # pragma: no cover


def _build(cls: type, data: Mapping[str, Any], section: str | None, origin: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    place = f"[{section}] of {origin}" if section else f"the top level of {origin}"
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            hint = did_you_mean(key, names)
            what = "key" if section else "key or section"
            raise ConfigError(f"unknown {what} '{key}' in {place}{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{key}' in {place} must be a table [{key}], got {value!r}")
            kwargs[key] = _build(tp, value, key, origin)
        else:
            label = f"[{section}] {key}" if section else key
            kwargs[key] = _coerce(value, tp, f"{label} in {origin}")
    return cls(**kwargs)


def _validate(cfg: Config, origin: str) -> None:
    if cfg.config_version != CONFIG_VERSION:
        raise ConfigError(
            f"config_version = {cfg.config_version} in {origin} is not supported "
            f"(this hepc9 reads version {CONFIG_VERSION})"
        )
    if cfg.seed < 0:
        raise ConfigError(f"seed = {cfg.seed} in {origin} must be a non-negative integer")
    g = cfg.generate
    if g.events <= 0:
        raise ConfigError(f"[generate] events = {g.events} in {origin} must be positive")
    if g.chunk_size <= 0:
        raise ConfigError(f"[generate] chunk_size = {g.chunk_size} in {origin} must be positive")
    if g.threads < 0:
        raise ConfigError(f"[generate] threads = {g.threads} in {origin} must be >= 0")
    if g.q2_min is not None and g.q2_max is not None and g.q2_min >= g.q2_max:
        raise ConfigError(
            f"[generate] q2_min = {g.q2_min} must be below q2_max = {g.q2_max} in {origin}"
        )
    if not 0.0 <= cfg.background.fraction < 1.0:
        raise ConfigError(
            f"[background] fraction = {cfg.background.fraction} in {origin} must be in [0, 1)"
        )
    for hook in _VALIDATORS:
        hook(cfg, origin)


#: Extra validation hooks ``hook(cfg, origin)`` registered by sections with richer rules.
_VALIDATORS: list[Any] = []

_METHODS = ("fit", "resnet3d", "deepsets", "event")


def _validate_evaluate(cfg: Config, origin: str) -> None:
    e = cfg.evaluate
    for m in e.methods:
        if m not in _METHODS:
            hint = did_you_mean(m, _METHODS)
            raise ConfigError(f"[evaluate] methods in {origin}: unknown method '{m}'{hint} "
                              f"(known: {', '.join(_METHODS)})")
    for level in e.levels:
        if level not in ("gen", "det"):
            raise ConfigError(f"[evaluate] levels in {origin}: '{level}' is not 'gen' or 'det'")
    if "det" in e.levels and not cfg.detector.enabled:
        raise ConfigError(f"[evaluate] levels in {origin} includes 'det' but [detector] "
                          "enabled = false; enable the detector or drop the 'det' level")
    if not e.events_per_set or any(n <= 0 for n in e.events_per_set):
        raise ConfigError(f"[evaluate] events_per_set = {list(e.events_per_set)} in {origin} "
                          "must be positive integers")
    if any(n <= 0 for n in e.fit_scaling_events):
        raise ConfigError(f"[evaluate] fit_scaling_events = {list(e.fit_scaling_events)} in "
                          f"{origin} must be positive integers")
    if e.sets_per_truth < 2:
        raise ConfigError(f"[evaluate] sets_per_truth = {e.sets_per_truth} in {origin} must be "
                          ">= 2 (spreads need several pseudo-experiments)")
    for name in ("crb_events", "distribution_events"):
        if getattr(e, name) <= 0:
            raise ConfigError(f"[evaluate] {name} in {origin} must be positive")


_VALIDATORS.append(_validate_evaluate)


#: Image channels known to :mod:`hepc9.datasets.voxelize` and set features of
#: :mod:`hepc9.datasets.sets` (kept here so that a typo fails before any work).
DATASET_CHANNELS = ("q2_mean", "count", "occupancy", "q2_std", "background", "background_q2_mean")
SET_FEATURES = ("q2", "costheta_l", "costheta_k", "chi", "cos_chi", "sin_chi", "mkpi", "flavour")


def _check_names(values: tuple[str, ...], allowed: tuple[str, ...], where: str) -> None:
    if not values:
        raise ConfigError(f"{where} is empty; choose from {', '.join(allowed)}")
    for v in values:
        if v not in allowed:
            hint = did_you_mean(v, allowed)
            raise ConfigError(f"{where}: unknown name '{v}'{hint} (known: {', '.join(allowed)})")
    if len(set(values)) != len(values):
        raise ConfigError(f"{where} = {list(values)} lists a name twice")


def _validate_datasets(cfg: Config, origin: str) -> None:
    """Check the ``[datasets]`` values that the types alone do not constrain."""
    d = cfg.datasets
    if any(b <= 0 for b in d.bins):
        raise ConfigError(f"[datasets] bins = {list(d.bins)} in {origin} must be positive")
    for name in ("costheta_l_range", "costheta_k_range", "chi_range"):
        lo, hi = getattr(d, name)
        if not lo < hi:
            raise ConfigError(
                f"[datasets] {name} = [{lo}, {hi}] in {origin}: low must be below high"
            )
    _check_names(d.channels, DATASET_CHANNELS, f"[datasets] channels in {origin}")
    if d.channels[0] not in ("q2_mean",) and "q2_mean" in d.channels:
        raise ConfigError(f"[datasets] channels in {origin}: 'q2_mean' must be channel 0")
    _check_names(d.set_features, SET_FEATURES, f"[datasets] set_features in {origin}")
    if d.grid == "custom" and not d.labels:
        raise ConfigError(
            f"[datasets] grid = 'custom' in {origin} needs labels = [...] (δC9 values)"
        )
    if d.grid != "custom" and d.labels:
        raise ConfigError(
            f"[datasets] labels in {origin} are only used with grid = 'custom' (grid = '{d.grid}')"
        )
    if len(set(d.labels)) != len(d.labels):
        raise ConfigError(f"[datasets] labels = {list(d.labels)} in {origin} repeat a value")
    for name in ("events_per_image", "items_per_chunk", "reference_events"):
        if getattr(d, name) <= 0:
            value = getattr(d, name)
            raise ConfigError(f"[datasets] {name} = {value} in {origin} must be positive")
    for name in ("train_per_label", "validation_per_label", "test_per_label"):
        if getattr(d, name) < 0:
            raise ConfigError(f"[datasets] {name} = {getattr(d, name)} in {origin} must be >= 0")
    if d.threads < 0:
        raise ConfigError(f"[datasets] threads = {d.threads} in {origin} must be >= 0")


_VALIDATORS.append(_validate_datasets)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one ``section.key=value`` override; the value is read as TOML.

    Parameters
    ----------
    text : str
        E.g. ``"datasets.bins=[25,25,25]"`` or ``"seed=7"``.

    Returns
    -------
    (list of str, object)
        The dotted path and the parsed value.
    """
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value")
    path, raw = text.split("=", 1)
    keys = [k.strip() for k in path.strip().split(".") if k.strip()]
    if not keys:
        raise ConfigError(f"override '{text}' has no key")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words are strings: --set model.name=deepsets
    return keys, value


def _merge(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set '{'.'.join(keys)}': '{key}' is not a section")
    node[keys[-1]] = value


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    data: Mapping[str, Any] | None = None,
) -> Config:
    """Read, validate and resolve a configuration.

    Parameters
    ----------
    path : str or Path, optional
        TOML file.  ``None`` starts from the defaults.
    overrides : iterable of str
        ``section.key=value`` strings applied after the file.
    data : mapping, optional
        Already-parsed configuration data (used instead of ``path``).

    Returns
    -------
    Config
        The frozen, validated configuration.

    Raises
    ------
    ConfigError
        On unreadable files, TOML syntax errors, unknown keys, wrong types, impossible values.
    """
    origin = str(path) if path is not None else "<defaults>"
    raw: dict[str, Any] = {}
    if data is not None:
        raw = json.loads(json.dumps(_to_plain(data)))
        origin = "<mapping>"
    elif path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration file {p} does not exist") from None
        except OSError as err:
            raise ConfigError(f"cannot read configuration file {p}: {err.strerror}") from err
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{p} is not valid TOML: {err}") from err
    for text in overrides:
        keys, value = parse_override(text)
        _merge(raw, keys, value)
    cfg = _build(Config, raw, None, origin)
    _validate(cfg, origin)
    return cfg


def _validate_ingest(cfg: Config, origin: str) -> None:
    """Check the ``[ingest]`` values that the types alone do not constrain."""
    ing = cfg.ingest
    if ing.step_size <= 0:
        raise ConfigError(f"[ingest] step_size = {ing.step_size} in {origin} must be positive")
    spec = ing.flavour
    if not spec:
        return
    keys = set(spec)
    if keys == {"value"}:
        if spec["value"] not in (1, -1) or isinstance(spec["value"], bool):
            raise ConfigError(
                f"[ingest] flavour.value = {spec['value']!r} in {origin} must be 1 (B0) or "
                "-1 (anti-B0)"
            )
        return
    if keys == {"column", "kind"}:
        if not isinstance(spec["column"], str) or not spec["column"]:
            raise ConfigError(f"[ingest] flavour.column in {origin} must be a branch name")
        if spec["kind"] not in ("pdg", "sign"):
            raise ConfigError(
                f"[ingest] flavour.kind = {spec['kind']!r} in {origin} must be 'pdg' or 'sign'"
            )
        return
    raise ConfigError(
        f"[ingest] flavour = {spec!r} in {origin} must be {{column = \"NAME\", kind = \"pdg\"}}, "
        f"{{column = \"NAME\", kind = \"sign\"}} or {{value = 1}}"
    )


_VALIDATORS.append(_validate_ingest)


def _validate_model_train(cfg: Config, origin: str) -> None:
    """Check the ``[model]`` and ``[train]`` values that the types alone do not restrict."""
    m, t = cfg.model, cfg.train
    if m.depth not in (10, 18, 34):
        raise ConfigError(f"[model] depth = {m.depth} in {origin} must be 10, 18 or 34")
    if not m.width > 0.0:
        raise ConfigError(f"[model] width = {m.width} in {origin} must be positive")
    for key in ("stem_filters", "stem_kernel", "stem_stride", "dense_units"):
        if getattr(m, key) <= 0:
            raise ConfigError(f"[model] {key} = {getattr(m, key)} in {origin} must be positive")
    if m.stem_pool < 0 or m.stem_pool_stride <= 0:
        raise ConfigError(
            f"[model] stem_pool = {m.stem_pool} must be >= 0 and stem_pool_stride = "
            f"{m.stem_pool_stride} positive in {origin}"
        )
    if not 0.0 <= m.dropout < 1.0:
        raise ConfigError(f"[model] dropout = {m.dropout} in {origin} must be in [0, 1)")
    for key in ("phi_units", "rho_units", "event_units"):
        if any(u <= 0 for u in getattr(m, key)):
            raise ConfigError(
                f"[model] {key} = {list(getattr(m, key))} in {origin} must be positive"
            )
    if t.backend not in ("auto", "tensorflow", "jax", "torch"):
        raise ConfigError(
            f"[train] backend = {t.backend!r} in {origin} must be 'auto', 'tensorflow', 'jax' "
            "or 'torch'"
        )
    for key in ("learning_rate", "min_lr", "batch_size", "event_batch_size", "epochs",
                "steps_per_epoch", "validation_steps"):
        if not getattr(t, key) > 0:
            raise ConfigError(f"[train] {key} = {getattr(t, key)} in {origin} must be positive")
    if not 0.0 < t.reduce_lr_factor < 1.0:
        raise ConfigError(
            f"[train] reduce_lr_factor = {t.reduce_lr_factor} in {origin} must be in (0, 1)"
        )
    for key in ("reduce_lr_patience", "early_stopping_patience", "member"):
        if getattr(t, key) < 0:
            raise ConfigError(f"[train] {key} = {getattr(t, key)} in {origin} must be >= 0")
    if not 0.0 <= t.momentum < 1.0:
        raise ConfigError(f"[train] momentum = {t.momentum} in {origin} must be in [0, 1)")
    if not 0.0 < t.validation_fraction < 1.0:
        raise ConfigError(
            f"[train] validation_fraction = {t.validation_fraction} in {origin} must be in (0, 1)"
        )


_VALIDATORS.append(_validate_model_train)


def _series_minimum(coefficients: tuple[float, ...], kind: str, points: int = 2001) -> float:
    """Return the minimum on a dense grid of ``1 + Σ c_n P_n(x)`` or ``1 + Σ a_n cos nχ``."""
    lowest = math.inf
    for i in range(points):
        if kind == "legendre":
            x = -1.0 + 2.0 * i / (points - 1)
            p_prev, p_cur, total = 1.0, x, 1.0
            for n, c in enumerate(coefficients, start=1):
                if n > 1:
                    p_prev, p_cur = p_cur, ((2 * n - 1) * x * p_cur - (n - 1) * p_prev) / n
                total += c * p_cur
        else:
            chi = 2.0 * math.pi * i / (points - 1)
            total = 1.0 + sum(a * math.cos(n * chi) for n, a in enumerate(coefficients, start=1))
        lowest = min(lowest, total)
    return lowest


def _validate_detector_background_selection(cfg: Config, origin: str) -> None:
    """Check the ``[detector]``, ``[background]`` and ``[selection]`` values."""
    d, b, s = cfg.detector, cfg.background, cfg.selection
    if not 0.0 <= d.theta_min_deg < d.theta_max_deg <= 180.0:
        raise ConfigError(
            f"[detector] theta_min_deg = {d.theta_min_deg}, theta_max_deg = {d.theta_max_deg} in "
            f"{origin} must satisfy 0 <= theta_min_deg < theta_max_deg <= 180"
        )
    for key in ("pt_min", "p_min_muon", "p_min_kaon", "p_min_pion", "pt_resolution_a",
                "pt_resolution_b", "angle_resolution_c", "angle_resolution_d", "muon_id_p_half",
                "kaon_id_slope"):
        if getattr(d, key) < 0.0:
            raise ConfigError(f"[detector] {key} = {getattr(d, key)} in {origin} must be >= 0")
    for key in ("muon_id_plateau", "muon_id_endcap_factor", "kaon_id_plateau"):
        if not 0.0 <= getattr(d, key) <= 1.0:
            raise ConfigError(
                f"[detector] {key} = {getattr(d, key)} in {origin} must be an efficiency in [0, 1]"
            )
    if d.muon_id_p_width < 0.0:
        raise ConfigError(
            f"[detector] muon_id_p_width = {d.muon_id_p_width} in {origin} must be >= 0 "
            "(0 means a sharp step at muon_id_p_half)"
        )
    if d.beam_energy_spread is not None and d.beam_energy_spread < 0.0:
        raise ConfigError(
            f"[detector] beam_energy_spread = {d.beam_energy_spread} in {origin} must be >= 0 "
            "(or left out to use the beam's own spread)"
        )
    for key in ("chunk_size", "efficiency_bins"):
        if getattr(d, key) <= 0:
            raise ConfigError(f"[detector] {key} = {getattr(d, key)} in {origin} must be positive")

    if b.argus_c > 0.0:
        raise ConfigError(
            f"[background] argus_c = {b.argus_c} in {origin} must be <= 0 (typical fits give "
            "-10 ... -50, physics.md §8)"
        )
    lo, hi = b.delta_e_range
    if not lo < hi:
        raise ConfigError(
            f"[background] delta_e_range = {[lo, hi]} in {origin} must be (low, high)"
        )
    if min(1.0 + b.delta_e_slope * lo, 1.0 + b.delta_e_slope * hi) < 0.0:
        raise ConfigError(
            f"[background] delta_e_slope = {b.delta_e_slope} in {origin} makes the ΔE density "
            f"1 + slope·ΔE negative inside delta_e_range = {[lo, hi]}; reduce |slope|"
        )
    m_lo, m_hi = b.mkpi_range
    if not 0.0 < m_lo < m_hi:
        raise ConfigError(
            f"[background] mkpi_range = {[m_lo, m_hi]} in {origin} must be (low, high) with low > 0"
        )
    half = 0.5 * (m_hi - m_lo)
    if 1.0 - abs(b.mkpi_slope) * half < 0.0:
        raise ConfigError(
            f"[background] mkpi_slope = {b.mkpi_slope} in {origin} makes the m(Kπ) density "
            f"negative inside mkpi_range; |slope| must be <= {1.0 / half:.4g} GeV⁻¹"
        )
    for key, kind in (("q2_legendre", "legendre"), ("costheta_l_legendre", "legendre"),
                      ("costheta_k_legendre", "legendre"), ("chi_cosines", "cosine")):
        if _series_minimum(getattr(b, key), kind) < 0.0:
            raise ConfigError(
                f"[background] {key} = {list(getattr(b, key))} in {origin} gives a negative "
                "density somewhere in its range; reduce the coefficients"
            )

    sb_lo, sb_hi = s.mbc_sideband
    if not sb_lo < sb_hi:
        raise ConfigError(
            f"[selection] mbc_sideband = {[sb_lo, sb_hi]} in {origin} must be (low, high)"
        )
    if sb_hi > s.mbc_signal_min:
        raise ConfigError(
            f"[selection] mbc_sideband = {[sb_lo, sb_hi]} in {origin} overlaps the signal region "
            f"Mbc > {s.mbc_signal_min}; its upper edge must be <= mbc_signal_min"
        )
    for key in ("delta_e_max", "mkpi_window", "mkpi_centre"):
        if getattr(s, key) <= 0.0:
            raise ConfigError(f"[selection] {key} = {getattr(s, key)} in {origin} must be positive")
    # the background must be generated wherever the selection looks for it
    if b.mbc_min > sb_lo or b.mbc_min > s.mbc_signal_min:
        raise ConfigError(
            f"[background] mbc_min = {b.mbc_min} in {origin} must be <= the sideband's lower edge "
            f"{sb_lo} so that the sideband receives its full ARGUS share"
        )
    if lo > -s.delta_e_max or hi < s.delta_e_max:
        raise ConfigError(
            f"[background] delta_e_range = {[lo, hi]} in {origin} must cover the ΔE window "
            f"|ΔE| < {s.delta_e_max} of [selection]"
        )
    k_lo, k_hi = s.mkpi_centre - s.mkpi_window, s.mkpi_centre + s.mkpi_window
    if m_lo > k_lo + 1e-12 or m_hi < k_hi - 1e-12:
        raise ConfigError(
            f"[background] mkpi_range = {[m_lo, m_hi]} in {origin} must cover the K* window "
            f"[{k_lo:.4g}, {k_hi:.4g}] of [selection]"
        )


_VALIDATORS.append(_validate_detector_background_selection)


def _validate_generate(cfg: Config, origin: str) -> None:
    """Check the ``[generate]`` values not covered by the base checks of :func:`_validate`."""
    g = cfg.generate
    if g.q2_grid_points < 16:
        raise ConfigError(
            f"[generate] q2_grid_points = {g.q2_grid_points} in {origin} must be >= 16"
        )
    for name in ("dc7", "dc9", "dc10", "c7p", "c9p", "c10p", "q2_min", "q2_max"):
        value = getattr(g, name)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"[generate] {name} = {value!r} in {origin} must be finite")
    for name in ("q2_min", "q2_max"):
        value = getattr(g, name)
        if value is not None and value < 0.0:
            raise ConfigError(f"[generate] {name} = {value} GeV² in {origin} must be >= 0")


_VALIDATORS.append(_validate_generate)


def _validate_fit(cfg: Config, origin: str) -> None:
    """Check the ``[fit]`` values that the types alone do not constrain."""
    f = cfg.fit
    shifts = ("dc7", "dc9", "dc10", "c7p", "c9p", "c10p")
    if not f.free:
        raise ConfigError(f"[fit] free in {origin} must name at least one shift")
    for name in f.free:
        if name not in shifts:
            hint = did_you_mean(name, shifts)
            raise ConfigError(f"[fit] free contains unknown shift '{name}' in {origin}{hint}")
    if len(set(f.free)) != len(f.free):
        raise ConfigError(f"[fit] free = {list(f.free)} in {origin} has duplicates")
    if f.q2_min is not None and f.q2_max is not None and f.q2_min >= f.q2_max:
        raise ConfigError(
            f"[fit] q2_min = {f.q2_min} must be below q2_max = {f.q2_max} (GeV²) in {origin}"
        )
    if f.min_events < 1:
        raise ConfigError(f"[fit] min_events = {f.min_events} in {origin} must be >= 1")
    if f.strategy not in (0, 1, 2):
        raise ConfigError(f"[fit] strategy = {f.strategy} in {origin} must be 0, 1 or 2")
    if any(o < 0 for o in f.template_orders):
        raise ConfigError(f"[fit] template_orders in {origin} must be >= 0")
    if f.background_fraction is not None and not 0.0 <= f.background_fraction < 1.0:
        raise ConfigError(
            f"[fit] background_fraction = {f.background_fraction} in {origin} must be in [0, 1)"
        )
    if f.background_fraction_error is not None and f.background_fraction_error <= 0.0:
        raise ConfigError(f"[fit] background_fraction_error in {origin} must be > 0")
    if any(n < 4 for n in f.fisher_nodes):
        raise ConfigError(f"[fit] fisher_nodes = {list(f.fisher_nodes)} in {origin} must be >= 4")


_VALIDATORS.append(_validate_fit)
