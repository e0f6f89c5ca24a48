"""Sections of the estimators and the study: one frozen dataclass per TOML table.

``[model]``, ``[train]``, ``[fit]``, ``[evaluate]``, ``[plots]`` and ``[scale]``.  Field
defaults *are* the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EvaluateConfig",
    "FitConfig",
    "ModelConfig",
    "PlotsConfig",
    "ScaleConfig",
    "TrainConfig",
]


@dataclass(frozen=True, slots=True, kw_only=True)
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
    #: Deep Sets: standardise the pooled embedding before ρ with running means and variances
    #: of the training batches, used alike in training and prediction (``running``), or not
    #: (``none``).  The set means of φ differ between sets by ~1/√N of their per-event
    #: spread; without it ρ has to learn that amplification and offset itself.
    pool_norm: Literal["none", "running"] = "none"
    #: Event classifier: hidden widths of the per-event network (papers/003: 4 → 32 → 32 → K).
    event_units: tuple[int, ...] = (32, 32)
    #: Event classifier: number of δC9 bins over the training prior (continuous labels are
    #: binned into them) and the head: ``quadratic`` (logits log q_x(δC9) − log Z(δC9) with
    #: positive quadratics, smooth in δC9 as the rate is) or ``free`` (one logit per bin).
    event_bins: int = 81
    event_head: Literal["quadratic", "free"] = "quadratic"
    #: ResNet: pad the periodic χ axis circularly instead of with zeros.
    periodic_chi: bool = True
    #: ``ratio`` estimator: hidden widths of the per-event coefficient network, and the real
    #: shifts its learned likelihood depends on (the first is reported as ``dc9``).
    ratio_units: tuple[int, ...] = (64, 64, 64)
    ratio_params: tuple[str, ...] = ("dc9",)
    #: ``ratio``: what the network learns about.  ``observed`` (the exact coefficients at the
    #: observed q² and angles; the network learns the residual that resolution and acceptance
    #: leave) or ``none`` (the network learns the whole coefficient function).
    ratio_baseline: Literal["observed", "none"] = "observed"
    #: ``event_exact`` (the event classifier on exact per-event posteriors): hidden widths of
    #: its per-event network (the quadratic head is always used).
    exact_units: tuple[int, ...] = (128, 128, 128)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Training (see :mod:`hepc9.train`)."""

    #: Keras backend: ``auto`` (``KERAS_BACKEND``, else JAX if installed, else TensorFlow),
    #: ``tensorflow``, ``jax``
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
    #: Learning-rate schedule of the Keras trainers: ``plateau`` (the reduction above) or
    #: ``cosine`` (a cosine decay from ``learning_rate`` to ``min_lr`` over all ``epochs``,
    #: independent of the validation loss; early stopping still keeps the best weights).
    lr_schedule: Literal["plateau", "cosine"] = "plateau"
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
    #: ``hepc9 run``: train on items streamed fresh from the sampler (labels from the
    #: ``[datasets] prior``) instead of stored datasets.
    stream: bool = True
    #: ``hepc9 run``: train the set sizes from the smallest up, each set or image network
    #: starting from its model at the next smaller size (fine-tuning; hepc9.train.warm_start).
    warm_start: bool = False
    #: Epochs of a warm-started training (``None``: ``epochs``).
    warm_start_epochs: int | None = None
    #: Layers a warm-started training keeps fixed, by name prefix (e.g. ``["phi_"]``: Deep
    #: Sets adapts only its set network ρ to the new set size).
    freeze_layers: tuple[str, ...] = ()
    #: Streamed training: batches of the second, independent validation split used for the
    #: calibration (early stopping and the reported metrics use ``validation_steps``).
    calibration_steps: int = 8
    #: ``ratio`` estimator (streamed, no dataset): events generated for training (in blocks of
    #: ``ratio_block_events``, each drawn fresh), minibatch, Adam learning rate (cosine decay),
    #: reference δC9 the events are drawn at and the coefficients expanded about, and accepted
    #: reference events for the normalisation (with background: signal plus background events
    #: of the reference mixture, which then also joins every training block).
    ratio_events: int = 6_000_000
    ratio_block_events: int = 250_000
    ratio_batch_size: int = 2048
    ratio_learning_rate: float = 0.003
    ratio_reference: float = 0.0
    ratio_reference_events: int = 8_000_000
    #: ``event_exact``: events generated for training and minibatch (blocks, learning rate,
    #: reference point and normalisation events as for ``ratio``).
    exact_events: int = 4_000_000
    exact_batch_size: int = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
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
    #: How the sideband chooses the template orders (hepc9.fit.template_scan): ``bic``/``aic``
    #: (information criterion), ``lrt`` (likelihood-ratio test at size 0.01) scan upwards from
    #: ``template_orders`` to ``template_max_orders``; ``none`` uses ``template_orders``.
    template_criterion: Literal["none", "bic", "aic", "lrt"] = "bic"
    #: Largest orders of the template order scan.
    template_max_orders: tuple[int, int, int, int] = (8, 8, 8, 6)
    #: How the efficiency-sample statistics enter the error (hepc9.fit.uncertainty): ``linear``
    #: (delta method from the sample covariance of the per-event normalisation terms, fast),
    #: ``bootstrap`` (Poisson bootstrap of ``efficiency_replicas`` refits, for validation) or
    #: ``none``; the template component is propagated from the template covariance.
    efficiency_error: Literal["linear", "bootstrap", "none"] = "linear"
    #: Poisson-bootstrap replicas with ``efficiency_error = "bootstrap"`` (0: not propagated).
    efficiency_replicas: int = 20
    #: Extrapolate the template from two Mbc slices of the sideband to the signal region
    #: (mitigation of Mbc-dependent background shapes, hepc9.fit.sideband_slices).
    sideband_extrapolation: bool = False
    #: Background fraction in the signal region: start value (free) or fixed value; ``None``
    #: starts at 0.1 when a sideband is given.
    background_fraction: float | None = None
    #: σ of a Gaussian constraint on the background fraction (``None``: unconstrained).
    background_fraction_error: float | None = None
    #: Keep the background fraction fixed at ``background_fraction``.
    fix_background_fraction: bool = False
    #: Cramér–Rao quadrature nodes: per q² segment, cosθℓ, cosθK, χ.
    fisher_nodes: tuple[int, int, int, int] = (32, 24, 24, 24)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluateConfig:
    """Evaluation ensembles of independent pseudo-experiments (see :mod:`hepc9.evaluate`)."""

    #: Estimators to train and evaluate: ``fit`` (unbinned likelihood), ``resnet3d``,
    #: ``deepsets``, ``event`` (event-by-event classifier).
    methods: tuple[str, ...] = ("fit", "resnet3d", "deepsets", "event")
    #: Methods of ``methods`` run at the detector level (empty: all of them).  Detector-level
    #: training items cost ≈ 30× generator-level ones (detector response, background and its
    #: sideband per item), so a short CPU run may keep the fit and ``ratio`` there only.
    det_methods: tuple[str, ...] = ()
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
    #: Events of the SM and BSM samples drawn in the distributions figure.
    distribution_events: int = 200_000
    #: δC9 of the BSM sample of the distributions figure.
    bsm_dc9: float = -0.82
    #: Run MINOS for every fit of the ensembles (coverage of the likelihood intervals).
    minos: bool = True
    #: Intervals whose coverage heads the comparison table: ``likelihood`` (each estimator's
    #: own: the fit's MINOS/HESSE interval, a network's posterior quantiles) or ``neyman``
    #: (toy-calibrated from the ensembles, :mod:`hepc9.evaluate.belts`).  Both are computed
    #: and reported where available.
    intervals: Literal["likelihood", "neyman"] = "likelihood"
    #: Rows of a trained estimator at truths closer than this many σ_CRB to an edge of its
    #: training prior are flagged out of the headline of the comparison table.
    prior_margin: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlotsConfig:
    """Figures (see :mod:`hepc9.plots`)."""

    formats: tuple[str, ...] = ("png", "pdf")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleConfig:
    """Scale-out: how independent chunks are executed."""

    executor: Literal["serial", "processes", "dask"] = "processes"
    workers: int = 0
    scheduler_address: str | None = None
