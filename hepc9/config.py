"""Run configuration: TOML files read into frozen dataclasses, one per section.

Field defaults *are* the defaults; a configuration file lists only what differs.  Unknown
sections or keys and values of the wrong type fail before any work starts, naming the file,
the section, the key and the closest valid key.  ``--set section.key=value`` overrides parse
their value as TOML.

``python -m hepc9 config show FILE`` prints the resolved configuration.
"""

from __future__ import annotations

import dataclasses
import difflib
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

from hepc9.errors import ConfigError

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
    #: Relative error bound of the tabulated angular coefficients used by the fast sampler.
    q2_grid_points: int = 4096


@_section
class IngestConfig:
    """Reading foreign ntuples (formats.md §3)."""

    #: Input layout; ``auto`` detects native, basf2 and EvtGen ``ntp`` files (flat needs ``columns``).
    layout: Literal["auto", "native", "basf2", "evtgen", "flat"] = "auto"
    #: Tree to read; ``None`` picks the layout's default (``det`` then ``gen``, ``ntp``, ``events``).
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
    #: Flat tables: native name → branch (four-vectors ``k_e``…``mum_pz``, optional ``*_true``,
    #: ``weight``, ``mbc``, ``delta_e``, ``is_signal``, ``experiment``, ``run``, ``event``, ``rank``).
    columns: dict[str, str] = field(default_factory=dict)
    #: Entries read per chunk (bounds the memory of ``convert`` on large files).
    step_size: int = 1_000_000
    #: EvtGen ``ntp`` only: whether the generator ran with ``-v`` (charmonium q² vetoes);
    #: recorded in the metadata, ``None`` when unknown.
    ntp_q2_veto: bool | None = None


@_section
class DetectorConfig:
    """Fast Belle II-like detector response (see :mod:`hepc9.detector`)."""

    enabled: bool = False


@_section
class BackgroundConfig:
    """Combinatorial background and its Mbc sideband (see :mod:`hepc9.background`)."""

    enabled: bool = False
    #: Background fraction in the signal region.
    fraction: float = 0.44


@_section
class SelectionConfig:
    """Signal region and Mbc sideband (physics.md §8)."""

    mbc_signal_min: float = 5.27
    delta_e_max: float = 0.05
    mbc_sideband: tuple[float, float] = (5.20, 5.26)
    mkpi_window: float = 0.10
    mkpi_centre: float = 0.892


@_section
class DatasetsConfig:
    """Images and event sets (see :mod:`hepc9.datasets`)."""

    bins: tuple[int, int, int] = (50, 50, 50)


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
    #: Deep Sets: hidden widths of the per-event network φ and of the set network ρ (papers/003: 32).
    phi_units: tuple[int, ...] = (32, 32)
    rho_units: tuple[int, ...] = (32, 32)
    #: Deep Sets: rows whose features are all exactly ``0`` are padding, left out of the mean.
    mask_padding: bool = False
    #: Event classifier: hidden widths of the per-event network (papers/003: 4 → 32 → 32 → grid).
    event_units: tuple[int, ...] = (32, 32)


@_section
class TrainConfig:
    """Training (see :mod:`hepc9.train`)."""

    #: Keras backend: ``auto`` (``KERAS_BACKEND``, else TensorFlow), ``tensorflow``, ``jax``, ``torch``.
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


@_section
class FitConfig:
    """Unbinned maximum-likelihood fit (see :mod:`hepc9.fit`)."""

    free: tuple[str, ...] = ("dc9",)


@_section
class EvaluateConfig:
    """Evaluation ensembles (see :mod:`hepc9.evaluate`)."""

    quantiles: tuple[float, float] = (0.16, 0.84)


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
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
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
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
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
