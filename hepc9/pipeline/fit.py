"""Fit stage: event files → unbinned fit result (JSON); and the Cramér–Rao bound.

:func:`fit_file` reads native or foreign ntuples (:func:`hepc9.rootio.load_events`), optionally
an efficiency simulation sample (reconstructed, with truth columns, the generation point and
the generator density in its metadata) and a Mbc-sideband sample, builds the acceptance
normalisation and the background template, fits (:mod:`hepc9.fit.likelihood`) and writes the
result atomically.  :func:`crb` evaluates the Cramér–Rao bound with the same inputs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepc9.artifacts import write_json
from hepc9.config import Config
from hepc9.errors import ConfigError, DataError, DroppedRowsWarning, OutputExistsError
from hepc9.fit.acceptance import AcceptanceSample, acceptance_sample
from hepc9.fit.driver import fit_events
from hepc9.fit.fisher import CRBResult, cramer_rao
from hepc9.fit.options import FitOptions
from hepc9.fit.results import FitResult
from hepc9.fit.sideband_slices import argus_mean, extrapolated_template
from hepc9.fit.template_scan import OrderScan, scan_template_orders
from hepc9.generate.density import density_from_meta
from hepc9.kinematics import BELLE2
from hepc9.physics.constants import SHIFT_NAMES, ModelConstants, model_constants
from hepc9.physics.window import resolve_q2_range
from hepc9.rootio import load_events
from hepc9.rootio.native import read_meta

__all__ = ["crb", "fit_file", "fit_options", "fit_window", "load_acceptance", "load_template"]

log = logging.getLogger(__name__)


def fit_window(
    config: Config,
    q2_range: Sequence[float] | None = None,
    constants: ModelConstants | None = None,
) -> tuple[float, float] | None:
    """Return the fit window: ``q2_range`` if given, else ``[fit] q2_min/q2_max``.

    Parameters
    ----------
    config : Config
    q2_range : (float, float), optional
        Window from the command line (checked by the fit itself).
    constants : ModelConstants, optional
        Default: from ``[physics]`` of ``config``.

    Returns
    -------
    (float, float) or None
        ``None`` when neither is set (the full kinematic range); a missing ``[fit]`` edge is
        the kinematic limit (:func:`hepc9.physics.window.resolve_q2_range`).

    Raises
    ------
    ConfigError
        A ``[fit]`` window that is empty or leaves the kinematic range.
    """
    if q2_range is not None:
        return float(q2_range[0]), float(q2_range[1])
    f = config.fit
    if f.q2_min is None and f.q2_max is None:
        return None
    if constants is None:
        constants = model_constants(config.physics.constants)
    return resolve_q2_range(
        (f.q2_min, f.q2_max), constants, mode="raise", what="[fit] q2_min/q2_max",
        error=ConfigError,
    )  # fmt: skip


def fit_options(config: Config, **overrides: Any) -> FitOptions:
    """Return the :class:`~hepc9.fit.options.FitOptions` of ``[fit]``, with overrides.

    Parameters
    ----------
    config : Config
        ``[fit]`` and ``[physics]`` supply every option not overridden.
    **overrides
        Fields of :class:`FitOptions`; a value of ``None`` keeps the configured one (so
        unset command-line flags can be passed through).  ``q2_range`` falls back to
        :func:`fit_window`.

    Returns
    -------
    FitOptions
    """
    fc = config.fit
    constants = overrides.pop("constants", None) or model_constants(config.physics.constants)
    window = fit_window(config, overrides.pop("q2_range", None), constants)
    base = FitOptions(
        free=fc.free,
        q2_range=window,
        constants=constants,
        background_fraction=fc.background_fraction,
        fraction_error=fc.background_fraction_error,
        fix_fraction=fc.fix_background_fraction,
        outside=fc.outside,
        use_mkpi=fc.use_mkpi,
        min_events=fc.min_events,
        minos=fc.minos,
        strategy=fc.strategy,
        efficiency_error=fc.efficiency_error,
        efficiency_replicas=fc.efficiency_replicas,
        error_seed=config.seed,
    )
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})


def _read(paths: Any, config: Config, layout: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return load_events(paths, layout=layout, ingest=config.ingest)


def load_acceptance(
    path: Any,
    *,
    config: Config,
    q2_range: Sequence[float] | None,
    layout: str = "auto",
    generated_at: Mapping[str, float] | None = None,
) -> AcceptanceSample:
    """Read an efficiency simulation sample and build its :class:`AcceptanceSample`.

    Parameters
    ----------
    path : path-like or sequence
        Reconstructed simulation file(s).
    config : Config
    q2_range : (float, float) or None
        Fit window.
    layout : str
        Input layout (see :func:`hepc9.rootio.load_events`).
    generated_at : mapping, optional
        Generation point; default from the file metadata.

    Returns
    -------
    AcceptanceSample
    """
    sim, meta = _read(path, config, layout)
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    several = len(paths) > 1 and meta.get("format") == "hepc9-events"
    # the weights are 1/(generator density): native files must all share one
    found = {density_from_meta(read_meta(p) if several else meta, what=str(p)) for p in paths}
    if len(found) > 1:
        raise DataError(f"the efficiency files {', '.join(map(str, paths))} were generated with "
                        f"different densities ({', '.join(sorted(found))}); use one density")
    if generated_at is None:
        missing = [k for k in SHIFT_NAMES if k not in meta]
        if missing:
            raise DataError(
                f"the efficiency sample {path} has no generation point ({', '.join(missing)}) in "
                "its metadata; it must be a hepc9 simulation file"
            )
        generated_at = {k: float(meta[k]) for k in SHIFT_NAMES}
    return acceptance_sample(
        sim,
        generated_at=generated_at,
        q2_range=q2_range,
        constants=model_constants(config.physics.constants),
        evaluate=config.fit.efficiency_evaluate,
        use_mkpi=config.fit.use_mkpi,
        density=found.pop(),
    )


def load_template(
    path: Any,
    *,
    config: Config,
    q2_range: Sequence[float] | None,
    acceptance: AcceptanceSample | None = None,
    layout: str = "auto",
) -> OrderScan:
    """Read sideband events and fit the background template to them.

    Parameters
    ----------
    path : path-like or sequence
        Sideband file(s).
    config : Config
    q2_range : (float, float) or None
    acceptance : AcceptanceSample, optional
    layout : str

    Returns
    -------
    OrderScan
        The template at the orders chosen by ``[fit] template_criterion`` (``.template``) and
        the order scan (:func:`hepc9.fit.template_scan.scan_template_orders`).
    """
    sb, _ = _read(path, config, layout)
    fc = config.fit
    kwargs: dict[str, Any] = {
        "q2_range": q2_range,
        "acceptance": acceptance,
        "outside": "drop",
        "constants": model_constants(config.physics.constants),
    }
    scan = scan_template_orders(
        sb,
        criterion=fc.template_criterion,
        start=fc.template_orders,
        max_orders=fc.template_max_orders,
        **kwargs,
    )
    if not fc.sideband_extrapolation:
        return scan
    bg, m0 = config.background, BELLE2.e_beam_cm
    target = argus_mean(
        config.selection.mbc_signal_min, m0, c=bg.argus_c, m0=m0, m_min=bg.mbc_min
    )
    template, info = extrapolated_template(
        sb, mbc_target=target, orders=scan.template.orders, **kwargs
    )
    return dataclasses.replace(scan, template=template, extrapolation=info)


def fit_file(
    paths: Any,
    *,
    config: Config,
    free: Sequence[str] | str | None = None,
    q2_range: Sequence[float] | None = None,
    efficiency: Any = None,
    sideband: Any = None,
    background_fraction: float | None = None,
    fraction_error: float | None = None,
    fix_fraction: bool | None = None,
    minos: bool | None = None,
    scan: tuple[str, Sequence[float]] | None = None,
    layout: str = "auto",
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> FitResult:
    """Fit Wilson-coefficient shifts to the events of one or more files.

    Parameters
    ----------
    paths : path-like or sequence
        Event files or globs (native or foreign layouts).
    config : Config
        ``[fit]`` supplies every default not given here.
    free : sequence of str or str, optional
        Free shifts.
    q2_range : (float, float), optional
        Fit window in GeV².
    efficiency : path-like, optional
        Reconstructed simulation sample for the acceptance normalisation.
    sideband : path-like, optional
        Mbc-sideband sample for the background template.
    background_fraction, fraction_error, fix_fraction : optional
        Background fraction start/fixed value, Gaussian constraint σ, fixed flag.
    minos : bool, optional
        Run MINOS.
    scan : (str, sequence of float), optional
        Likelihood profile of one parameter, stored in the result.
    layout : str
        Input layout of all files.
    output : path-like, optional
        JSON output (written atomically).
    overwrite : bool
        Replace an existing output.

    Returns
    -------
    FitResult
    """
    if output is not None and Path(output).exists() and not overwrite:
        raise OutputExistsError(f"{output} exists; pass --overwrite to replace it")
    options = fit_options(
        config,
        free=free,
        q2_range=q2_range,
        background_fraction=background_fraction,
        fraction_error=fraction_error,
        fix_fraction=fix_fraction,
        minos=minos,
    )
    window = options.q2_range
    events, meta = _read(paths, config, layout)
    log.info("read %d events from %s", len(events.get("q2", ())), paths)
    acc = None
    if efficiency is not None:
        acc = load_acceptance(efficiency, config=config, q2_range=window, layout=layout)
        log.info("acceptance sample: %d events (effective %.0f)", acc.n_events, acc.effective_size)
    template = order_scan = None
    if sideband is not None:
        order_scan = load_template(
            sideband, config=config, q2_range=window, acceptance=acc, layout=layout
        )
        template = order_scan.template
        log.info(
            "background template from %d sideband events, orders %s (%s)",
            template.n_events, template.orders, order_scan.criterion,
        )  # fmt: skip
    options = options.replace(acceptance=acc, background=template)
    if acc is not None and acc.evaluate == "reco":
        # detector level: the window is a cut on the reconstructed q², the one the efficiency
        # sample was selected with (acceptance_sample), so candidates that the resolution moved
        # outside it are removed from data and normalisation alike; not an error
        options = options.replace(outside="drop")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DroppedRowsWarning)
        result = fit_events(events, options=options, scan=scan)
    for w in caught:
        if issubclass(w.category, DroppedRowsWarning) and acc is not None:
            log.info("%s (reconstructed-q² window cut, as in the efficiency sample)", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if output is not None:
        data = result.to_dict()
        data["inputs"] = {
            "events": [str(p) for p in (paths if isinstance(paths, list | tuple) else [paths])],
            "efficiency": None if efficiency is None else str(efficiency),
            "sideband": None if sideband is None else str(sideband),
            "events_meta": meta,
            "config_digest": config.digest(),
        }
        if template is not None and order_scan is not None:
            data["background_template"] = {
                **template.to_dict(),
                "order_scan": order_scan.to_dict(),
            }
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(output), data, overwrite=overwrite)
    return result


def crb(
    *,
    config: Config,
    at: Mapping[str, float],
    n_events: int,
    free: Sequence[str] | str | None = None,
    q2_range: Sequence[float] | None = None,
    efficiency: Any = None,
    sideband: Any = None,
    background_fraction: float = 0.0,
    fraction_free: bool = False,
    layout: str = "auto",
) -> CRBResult:
    """Return the Cramér–Rao bound (:func:`hepc9.fit.fisher.cramer_rao`) for config and inputs.

    Parameters
    ----------
    config : Config
    at : mapping of str to float
        True Wilson-coefficient point.
    n_events : int
    free : sequence of str or str, optional
        Parameters (default ``[fit] free``).
    q2_range : (float, float), optional
    efficiency, sideband : path-like, optional
        Simulation and sideband samples (acceptance and background dilution).
    background_fraction : float
    fraction_free : bool
        Treat the background fraction as a nuisance parameter.
    layout : str

    Returns
    -------
    CRBResult
    """
    options = fit_options(config, free=free, q2_range=q2_range)
    window = options.q2_range
    acc = None
    if efficiency is not None:
        acc = load_acceptance(efficiency, config=config, q2_range=window, layout=layout)
    template = None
    if sideband is not None:
        template = load_template(
            sideband, config=config, q2_range=window, acceptance=acc, layout=layout
        ).template
    elif background_fraction:
        raise DataError("--background-fraction needs a sideband sample (--sideband) for its shape")
    kw: dict[str, Any] = {
        "at": at, "params": options.free, "q2_range": window, "constants": options.constants,
        "acceptance": acc, "background": template, "background_fraction": background_fraction,
        "nodes": config.fit.fisher_nodes,
    }  # fmt: skip
    result = cramer_rao(n_events, fraction_free=fraction_free, **kw)
    if template is None or not background_fraction:
        return result
    # the bound for the other fraction treatment, side by side (the fit frees the fraction)
    other = cramer_rao(n_events, fraction_free=not fraction_free, **kw)
    free_r, fixed_r = (result, other) if fraction_free else (other, result)
    return dataclasses.replace(
        result, sigma_fraction_fixed=dict(fixed_r.sigma), sigma_fraction_free=dict(free_r.sigma)
    )
