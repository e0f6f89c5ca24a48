"""Large-sample bias of the detector-level fit with background (issue 14), paired comparisons.

For each true δC9 the detector stage is reproduced in a temporary directory (efficiency sample
without background; signal region + Mbc sideband with background at f = 0.44) and the same
signal-region signal events are fitted

* alone (``is_signal == 1``, acceptance normalisation, no background term): the reference;
* together with the background, with the template at the orders chosen by the BIC scan (and
  ``--fixed-orders`` (2,2,2,1)), and (``--strength`` ≠ 0) extrapolated from two Mbc slices,

in every ``--windows`` fit window (default the full range and [1.1, 6] GeV², a cut on the
reconstructed q² applied to data and efficiency sample alike).

The bias of a background treatment is its δC9 minus the signal-only δC9 on the same signal
events, in units of σ(24 000) = σ_stat · √(N/24 000).  Error components (template, efficiency)
are printed for every fit.

The signal-only fit minus the truth is printed too (``minus_truth``, the acceptance residual).

Run: ``python benchmarks/bench_fit_detector_bias.py --events 400000 --truth -0.82 0``
(``--strength 0.5`` for Mbc-dependent background shapes).
"""

import argparse
import json
import math
import tempfile
import time
import warnings
from pathlib import Path

from hepc9.config import load_config
from hepc9.fit import fit_events
from hepc9.fit.sideband_slices import argus_mean, extrapolated_template
from hepc9.fit.template_scan import scan_template_orders
from hepc9.fit.templates import fit_template
from hepc9.kinematics import BELLE2
from hepc9.pipeline.fit import load_acceptance
from hepc9.pipeline.generate import generate_file
from hepc9.pipeline.simulate import simulate_file
from hepc9.rootio import load_events


def _config(events, truth, strength, seed):
    return load_config(overrides=[
        "detector.enabled=true", "background.enabled=true", "background.fraction=0.44",
        f"background.mbc_shape_strength={strength}", f"generate.events={events}",
        "generate.four_vectors=true", f"generate.dc9={truth}", f"seed={seed}",
    ])


def _fit(events, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        res = fit_events(events, outside="drop", **kw)
        return res, time.perf_counter() - t


def run(args, truth, root):
    cfg = _config(args.events, truth, args.strength, args.seed)
    eff_cfg = _config(args.efficiency_events, 0.0, 0.0, args.seed)
    t0 = time.perf_counter()
    generate_file(eff_cfg, root / "eff_gen.root", stream=(92,), overwrite=True)
    simulate_file(eff_cfg, root / "eff_gen.root", root / "eff.root", background=False,
                  overwrite=True)
    generate_file(cfg, root / "gen.root", stream=(91,), overwrite=True)
    simulate_file(cfg, root / "gen.root", root / "sr.root", sideband_output=root / "sb.root",
                  overwrite=True)
    t_sim = time.perf_counter() - t0
    data, _ = load_events(root / "sr.root")
    sb, _ = load_events(root / "sb.root")
    return [_analyse(args, cfg, truth, root, data, sb, window, t_sim) for window in args.windows]


def _analyse(args, cfg, truth, root, data, sb, window, t_sim):
    q2_range = None if window == "full" else tuple(float(x) for x in window.split(","))
    acc = load_acceptance(root / "eff.root", config=cfg, q2_range=q2_range)
    signal = {k: v[data["is_signal"] == 1] for k, v in data.items()}
    out = {"truth": truth, "window": window, "strength": args.strength,
           "n_data": int(data["q2"].size),
           "n_signal": int(signal["q2"].size), "n_sideband": int(sb["q2"].size),
           "acceptance_events": acc.n_events, "acceptance_effective": acc.effective_size,
           "simulate_s": t_sim}
    common = {"acceptance": acc, "q2_range": q2_range}
    ref, _ = _fit(signal, **common)
    out["signal_only"] = {"dc9": ref.values["dc9"], "n_events": ref.n_events,
                          "minus_truth": ref.values["dc9"] - truth,
                          "components": ref.error_components}
    window = ref.q2_range
    tkw = {"q2_range": window, "acceptance": acc, "outside": "drop"}
    t = time.perf_counter()
    scan = scan_template_orders(sb, criterion="bic", start=(2, 2, 2, 1), **tkw)
    t_scan = time.perf_counter() - t
    templates = {f"bic {scan.template.orders}": scan.template}
    if args.fixed_orders:
        templates["fixed (2,2,2,1)"] = fit_template(sb, orders=(2, 2, 2, 1), **tkw)
    if args.strength:
        m0 = BELLE2.e_beam_cm
        target = argus_mean(cfg.selection.mbc_signal_min, m0, c=cfg.background.argus_c, m0=m0,
                            m_min=cfg.background.mbc_min)
        ext, info = extrapolated_template(sb, mbc_target=target, orders=scan.template.orders,
                                          **tkw)
        templates[f"extrapolated {scan.template.orders}"] = ext
        out["extrapolation"] = {k: info[k] for k in ("slice_mbc", "mbc_target", "k")}
    out["order_scan"] = {"chosen": list(scan.template.orders), "seconds": t_scan,
                         "steps": [(s["orders"], round(s["score"], 1), s["gain"], s["accepted"])
                                   for s in scan.steps if s["gain"] is not None]}
    rows = {}
    for name, tpl in templates.items():
        res, secs = _fit(data, background=tpl, background_fraction=0.44, **common)
        stat = res.error_components["statistical"]["dc9"]
        s24 = stat * math.sqrt(res.n_events / 24000)
        ref_stat = ref.error_components["statistical"]["dc9"]
        rows[name] = {
            "dc9": res.values["dc9"], "f_bkg": res.values["f_bkg"],
            "f_bkg_error": res.errors["f_bkg"],
            "shift_vs_signal_only": res.values["dc9"] - ref.values["dc9"],
            "shift_resolution": math.sqrt(max(stat**2 - ref_stat**2, 0.0)),
            "shift_over_sigma24k": (res.values["dc9"] - ref.values["dc9"]) / s24,
            "sigma24k": s24, "components": res.error_components, "fit_seconds": secs,
        }
    out["fits"] = rows
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=400_000, help="generated data events")
    p.add_argument("--efficiency-events", type=int, default=1_000_000)
    p.add_argument("--truth", type=float, nargs="+", default=[-0.82, 0.0])
    p.add_argument("--strength", type=float, default=0.0)
    p.add_argument("--windows", nargs="+", default=["full", "1.1,6"],
                   help="fit windows: 'full' or 'LO,HI' in GeV² (reconstructed q²)")
    p.add_argument("--fixed-orders", action="store_true", help="also fit orders (2,2,2,1)")
    p.add_argument("--seed", type=int, default=4242)
    p.add_argument("-o", "--output", type=Path)
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for truth in args.truth:
            for res in run(args, truth, Path(tmp)):
                results.append(res)
                print(json.dumps(res, indent=1, default=float), flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
