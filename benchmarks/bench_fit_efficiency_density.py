"""Efficiency samples from different generator densities (issue 14, item 3), paired on one data set.

For every ``--densities`` entry the same number of Standard-Model events (``--efficiency-events``)
is generated with ``[generate] density = d`` and passed through the detector without background
(``hepc9 generate --density d`` + ``hepc9 simulate``, metadata key ``density``); the acceptance
sample is read back with :func:`hepc9.pipeline.fit.load_acceptance`, i.e. with the 1/density
weights the file asks for.  For every truth one data set is simulated with background at
f = 0.44 (signal region + Mbc sideband), and in every window (a cut on the reconstructed q²)

* the first ``--fit-events`` signal-region events are fitted with the background template
  (fixed orders, fitted to the sideband relative to each acceptance sample), and the same
  events' signal alone: Kish size, σ_stat, σ_tmpl and σ_eff per density — the efficiency
  component of δC9 at 24 000 events;
* all signal events of the data set are fitted alone (the large-N closure): δC9 − truth with
  its statistical and efficiency errors, per density (the densities' efficiency samples are
  independent, so their difference is within √(σ²_eff,a + σ²_eff,b) ⊕ nothing else).

Run: ``python benchmarks/bench_fit_efficiency_density.py --efficiency-events 400000
--events 200000 --truth -0.82 0``.
"""

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

from hepc9.config import load_config
from hepc9.fit import fit_events
from hepc9.fit.templates import fit_template
from hepc9.pipeline.fit import load_acceptance
from hepc9.pipeline.generate import generate_file
from hepc9.pipeline.simulate import simulate_file
from hepc9.rootio import load_events


def _config(events, truth, seed, density="rate"):
    return load_config(overrides=[
        "detector.enabled=true", "background.enabled=true", "background.fraction=0.44",
        f"generate.events={events}", "generate.four_vectors=true", f"generate.dc9={truth}",
        f"generate.density={density}", f"seed={seed}",
    ])


def _fit(events, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        res = fit_events(events, outside="drop", **kw)
        return res, time.perf_counter() - t


def _components(res):
    c = res.error_components
    return {"dc9": res.values["dc9"], "stat": c["statistical"]["dc9"],
            "template": c["template"]["dc9"], "efficiency": c["efficiency"]["dc9"],
            "total": res.errors["dc9"], "n_events": res.n_events}


def _window(events, q2_range, n):
    if q2_range is None:
        sel = {k: v[:n] for k, v in events.items()}
    else:
        keep = (events["q2"] >= q2_range[0]) & (events["q2"] <= q2_range[1])
        sel = {k: v[keep][:n] for k, v in events.items()}
    return sel


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000, help="generated data events")
    p.add_argument("--efficiency-events", type=int, default=400_000)
    p.add_argument("--fit-events", type=int, default=24_000)
    p.add_argument("--truth", type=float, nargs="+", default=[-0.82, 0.0])
    p.add_argument("--densities", nargs="+", default=["rate", "flat_angles"])
    p.add_argument("--windows", nargs="+", default=["full", "1.1,6"])
    p.add_argument("--orders", default="4,3,3,2", help="template orders")
    p.add_argument("--seed", type=int, default=4242)
    p.add_argument("-o", "--output", type=Path)
    args = p.parse_args()
    orders = tuple(int(x) for x in args.orders.split(","))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        for d in args.densities:
            cfg = _config(args.efficiency_events, 0.0, args.seed, d)
            generate_file(cfg, root / f"eff_gen_{d}.root", stream=(92,), overwrite=True)
            simulate_file(cfg, root / f"eff_gen_{d}.root", root / f"eff_{d}.root",
                          background=False, overwrite=True)
        print(f"efficiency samples simulated in {time.perf_counter() - t0:.0f} s", flush=True)
        for truth in args.truth:
            cfg = _config(args.events, truth, args.seed)
            generate_file(cfg, root / "gen.root", stream=(91,), overwrite=True)
            simulate_file(cfg, root / "gen.root", root / "sr.root",
                          sideband_output=root / "sb.root", overwrite=True)
            data, _ = load_events(root / "sr.root")
            sb, _ = load_events(root / "sb.root")
            signal_all = {k: v[data["is_signal"] == 1] for k, v in data.items()}
            for window in args.windows:
                q2_range = None if window == "full" else tuple(float(x) for x in window.split(","))
                sub = _window(data, q2_range, args.fit_events)
                sub_sig = {k: v[sub["is_signal"] == 1] for k, v in sub.items()}
                row = {"truth": truth, "window": window, "n_fit": int(sub["q2"].size),
                       "n_fit_signal": int(sub_sig["q2"].size), "n_sideband": int(sb["q2"].size),
                       "n_signal_all": int(signal_all["q2"].size), "densities": {}}
                for d in args.densities:
                    acc = load_acceptance(root / f"eff_{d}.root", config=cfg, q2_range=q2_range)
                    common = {"acceptance": acc, "q2_range": q2_range}
                    tpl = fit_template(sb, orders=orders, q2_range=acc.q2_range, acceptance=acc,
                                       outside="drop")
                    sb_fit, secs = _fit(sub, background=tpl, background_fraction=0.44, **common)
                    s_fit, _ = _fit(sub_sig, **common)
                    big, _ = _fit(signal_all, **common)
                    big_c = _components(big)
                    row["densities"][d] = {
                        "density": acc.density, "accepted": acc.n_events,
                        "kish": acc.effective_size,
                        "signal_plus_background": {**_components(sb_fit),
                                                   "f_bkg": sb_fit.values["f_bkg"],
                                                   "seconds": secs},
                        "signal_only": _components(s_fit),
                        "closure_all_signal": {**big_c, "minus_truth": big_c["dc9"] - truth},
                    }
                results.append(row)
                print(json.dumps(row, indent=1, default=float), flush=True)
    print(f"{'δC9':>6} {'window':>7} {'density':>12} {'kish':>8} {'σeff s+b':>9} {'σstat':>7} "
          f"{'σeff sig':>9} {'closure δ−truth ± stat ± eff':>30}")
    for r in results:
        for d, x in r["densities"].items():
            c = x["closure_all_signal"]
            print(f"{r['truth']:>6} {r['window']:>7} {d:>12} {x['kish']:>8.0f} "
                  f"{x['signal_plus_background']['efficiency']:>9.4f} "
                  f"{x['signal_plus_background']['stat']:>7.4f} "
                  f"{x['signal_only']['efficiency']:>9.4f} "
                  f"{c['minus_truth']:>+10.4f} ± {c['stat']:.4f} ± {c['efficiency']:.4f}")
    if args.output:
        args.output.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
