"""The whole configuration of a run: top-level fields and one field per section."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hepc9.config.plain import config_digest, to_plain
from hepc9.config.sections import (
    BackgroundConfig,
    DatasetsConfig,
    DetectorConfig,
    GenerateConfig,
    IngestConfig,
    PhysicsConfig,
    SelectionConfig,
)
from hepc9.config.study import (
    EvaluateConfig,
    FitConfig,
    ModelConfig,
    PlotsConfig,
    ScaleConfig,
    TrainConfig,
)

__all__ = ["CONFIG_VERSION", "Config"]

#: Version of the configuration format this hepc9 reads (``config_version`` of a file).
CONFIG_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
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
        plain: dict[str, Any] = to_plain(self)
        return plain

    def digest(self) -> str:
        """Return ``sha256:<hex>`` of the canonical JSON of the configuration."""
        return config_digest(self)

    def replace(self, **sections: Any) -> Config:
        """Return a copy with whole sections or top-level fields replaced."""
        return dataclasses.replace(self, **sections)
