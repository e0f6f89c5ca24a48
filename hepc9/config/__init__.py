"""Run configuration: TOML files read into frozen dataclasses, one per section.

Field defaults *are* the defaults; a configuration file lists only what differs.  Unknown
sections or keys and values of the wrong type fail before any work starts, naming the file,
the section, the key and the closest valid key.  ``--set section.key=value`` overrides parse
their value as TOML.  A :class:`Config` is frozen and pickles exactly (workers receive it as
is).

``python -m hepc9 config show FILE`` prints the resolved configuration.

Modules (each name below is importable from ``hepc9.config``):

======================  =======================================================================
``sections``            event-chain sections: physics, generate, ingest, detector, background,
                        selection, datasets
``study``               model, train, fit, evaluate, plots and scale sections
``root``                :class:`Config`, the whole configuration, and ``CONFIG_VERSION``
``names``               the name lists values are checked against (shifts, methods, channels)
``coerce``              type checks of TOML values, building the sections
``checks_data``         ``[ingest]`` and ``[datasets]`` value checks
``checks_detector``     ``[detector]``, ``[background]`` and ``[selection]`` value checks
``validate``            every value check, in order
``plain``               plain JSON form and digest
``load``                :func:`load_config` and :func:`parse_override`
======================  =======================================================================
"""

from __future__ import annotations

from hepc9.config.load import load_config, parse_override
from hepc9.config.names import DATASET_CHANNELS, SET_FEATURES, SHIFT_NAMES
from hepc9.config.plain import config_digest
from hepc9.config.root import CONFIG_VERSION, Config
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

__all__ = [
    "CONFIG_VERSION",
    "DATASET_CHANNELS",
    "SET_FEATURES",
    "SHIFT_NAMES",
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
