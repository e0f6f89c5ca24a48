"""hepc9: Wilson-coefficient shifts in B0 → K*0(→K+π−)μ+μ− from ML and an unbinned fit.

Package map (layers from top to bottom; a module imports only from layers below it):

=======================  ====================================================================
``cli``                  ``python -m hepc9`` argument parsing; calls one library function
``pipeline``             the whole study from one config (``run``), stages, executors
``plots``                mplhep figures from result objects
``evaluate``             ensembles of pseudo-experiments, metrics, comparison tables
``train`` / ``fit``      Keras training and prediction / unbinned likelihood and Cramér–Rao bound
``models``               Keras model builders (3D ResNet, Deep Sets, event classifier)
``datasets``             voxelisation into quasi-images, event sets, on-disk store, streaming
``detector``             fast Belle II-like detector response
``background``           combinatorial background generator (Mbc/ΔE, angles, q²)
``selection``            signal region, Mbc sideband, K* window, cutflows
``rootio``               native and foreign (basf2, EvtGen ``ntp``, flat) ROOT ntuples
``generate``             numba sampler of the 4D rate and EvtGen decay files
``kinematics``           angles ↔ four-vectors, boosts, flavour conventions
``physics``              constants, form factors, C9eff, amplitudes, J_i, rate, observables
``config`` ``seeding``   TOML configuration, random streams, run artefacts
``artifacts``
``errors``               exception and warning classes
=======================  ====================================================================

``import hepc9`` is cheap: it loads neither Keras nor matplotlib and compiles nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Config", "Hepc9Error", "__version__", "load_config"]

from hepc9.errors import Hepc9Error

if TYPE_CHECKING:
    from hepc9.config import Config, load_config


def __getattr__(name: str) -> Any:
    if name in ("Config", "load_config"):
        from hepc9 import config

        return getattr(config, name)
    raise AttributeError(f"module 'hepc9' has no attribute '{name}'")
