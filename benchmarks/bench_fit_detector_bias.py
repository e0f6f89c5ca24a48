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
(``--strength 0.5`` for Mbc-dependent background shapes).  Replicas with independent data,
efficiency and sideband samples (``--seed`` per run, ``-o`` per run) combine with
``--combine run1.json run2.json …``: per truth, window and template the mean shift with two
errors, from the replicas' scatter (which includes the efficiency and template samples'
fluctuations) and from the statistical resolutions, in δC9 and in σ(24 000).

**Ensemble mode** (``--sets S``, issue 13): ``S`` small pseudo-experiments per ``--sizes`` N and
``--truths`` δC9, drawn from the evaluation chain exactly as ``bench_ratio.py --level det``
draws them (same streams unless ``--new-sets``), each fitted with the variants that separate
the candidate causes of a small-sample bias: bench_ratio's inputs (efficiency sample A of
``--eff-events``, BIC template from ``--sideband-sets`` sets' worth of sideband, f free), the
fraction fixed, the template at orders (2,2,2,1), the template refitted to the set's own
sideband, independent efficiency samples (``--alt-eff-events``), and the set's signal events
alone.  Printed per variant: mean − truth ± error, σ, bias/σ, median − truth, the paired
difference to the first variant, and the efficiency component σ_eff (common to all sets);
plus the first-order (Cox–Snell) bias of the maximum-likelihood estimate from the pooled
events.  Run: ``python benchmarks/bench_fit_detector_bias.py --sets 100 --sizes 8000
--truths -0.82 0``.
"""

import argparse
import json
import math
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

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



# --------------------------------------------------------------------------------------------
# small-sample ensembles on the evaluation chain (issue 13: the shared bias at N = 8000)
# --------------------------------------------------------------------------------------------

def _ensemble_inputs(args):
    """Chain, efficiency samples and sideband templates of the ensemble mode."""
    import dataclasses

    import bench_ratio  # the paired-fit inputs of bench_ratio.py (same streams)

    from hepc9.config import Config
    from hepc9.fit.acceptance import acceptance_sample
    from hepc9.physics.constants import model_constants
    from hepc9.seeding import seed_sequence
    from hepc9.simulation import ChainInputs, detector_signal, signal_region_background

    cfg = Config()
    cfg = cfg.replace(detector=dataclasses.replace(cfg.detector, enabled=True),
                      background=dataclasses.replace(cfg.background, enabled=True))
    chain = ChainInputs.from_config(cfg)
    t = time.perf_counter()
    # bench_ratio's paired-fit inputs: efficiency sample A (stream 1, 1), BIC template
    base = bench_ratio._fit_inputs(cfg, chain, args.eff_events, args.sideband_sets)
    const = model_constants(cfg.physics.constants)
    gen_at = dataclasses.asdict(chain.sample.shifts)

    def acc(n, key):
        ev = detector_signal(chain, chain.sample, seed_sequence(20261202, "evaluate", 9, 1, key),
                             n)
        return acceptance_sample(ev, generated_at=gen_at, q2_range=None, constants=const,
                                 evaluate=cfg.fit.efficiency_evaluate, use_mkpi=cfg.fit.use_mkpi)

    _, sb, _, _ = signal_region_background(chain, seed_sequence(20261202, "evaluate", 9, 1, 2),
                                           args.sideband_sets)
    orders = base["background"].orders
    accs = {"A": base["acceptance"]}
    for i, n in enumerate(args.alt_eff_events):
        accs[f"eff{i}"] = acc(n, 3 + i)
    tpls = {name: fit_template(sb, orders=orders, acceptance=a, q2_range=None)
            for name, a in accs.items()}
    tpls["A"] = base["background"]
    tpl_low = fit_template(sb, orders=(2, 2, 2, 1), acceptance=accs["A"], q2_range=None)
    print(f"inputs: {time.perf_counter() - t:.1f} s; BIC orders {orders}; sideband "
          f"{sb['q2'].size} events; efficiency samples "
          + ", ".join(f"{k}: {a.n_events} (Kish {a.effective_size:.0f})" for k, a in accs.items()),
          flush=True)
    return cfg, chain, accs, tpls, tpl_low, orders


def _first_order_bias(lf, truth, n_events, f0=0.44):
    """Cox–Snell first-order bias of (δC9, f) at the truth from the pooled events of ``lf``.

    The per-event log-density ℓ = ln[(1 − f) C·m(θ)/𝕄·m(θ) + f G] and its derivatives up to
    the third order (central differences) give κ_rs = E ℓ_rs, κ_rst = E ℓ_rst,
    κ_rs,t = E ℓ_rs ℓ_t; b^s = Σ I^sr I^tu (½ K_rtu + K_rt,u) / N with I = −κ, K = κ
    (per event), i.e. O(1/N).  Returns (b for f free, b for f fixed).
    """
    from itertools import product

    from hepc9.fit.packed import monomials

    c, norm, g = lf.nll.coefficients, lf.nll.normalisation, lf.nll.background
    h = np.array([2e-3, 2e-3])

    def ell(th, f):
        m = monomials(np.array([th]))
        return np.log((1 - f) * (c @ m) / (norm @ m) + f * g)

    grid = {(i, j): ell(truth + i * h[0], f0 + j * h[1])
            for i, j in product(range(-2, 3), repeat=2)}

    def d(orders):
        """Derivative ∂^a_θ ∂^b_f per event by central differences (orders: tuple of 0/1)."""
        a, b = orders.count(0), orders.count(1)
        st1 = {0: {0: 1.0}, 1: {1: 0.5, -1: -0.5}, 2: {1: 1.0, 0: -2.0, -1: 1.0},
               3: {2: 0.5, 1: -1.0, -1: 1.0, -2: -0.5}}
        out = 0.0
        for i, wi in st1[a].items():
            for j, wj in st1[b].items():
                out = out + wi * wj * grid[(i, j)]
        return out / (h[0] ** a * h[1] ** b)

    idx = [0, 1]
    l1 = {r: d((r,)) for r in idx}
    l2 = {(r, s): d((r, s)) for r in idx for s in idx}
    k2 = np.array([[l2[r, s].mean() for s in idx] for r in idx])
    k3 = {(r, s, t): d((r, s, t)).mean() for r in idx for s in idx for t in idx}
    k21 = {(r, s, t): (l2[r, s] * l1[t]).mean() for r in idx for s in idx for t in idx}

    def bias(par):
        inv = np.linalg.inv(-k2[np.ix_(par, par)])
        b = np.zeros(len(par))
        for si, _ in enumerate(par):
            for (ri, r), (ti, t), (ui, u) in product(enumerate(par), repeat=3):
                b[si] += inv[si, ri] * inv[ti, ui] * (0.5 * k3[r, t, u] + k21[r, t, u])
        return b / n_events

    return bias([0, 1]), bias([0])


def ensemble(args):
    """Fit ``--sets`` pseudo-experiments of each size and truth with every variant."""
    import dataclasses

    from machine import machine_line

    from hepc9.fit import LikelihoodFit
    from hepc9.seeding import seed_sequence
    from hepc9.simulation import EventFactory

    print(f"machine: {machine_line()}")
    cfg, chain, accs, tpls, tpl_low, orders = _ensemble_inputs(args)
    f = cfg.background.fraction
    variants = {"free": {"acceptance": accs["A"], "background": tpls["A"]},
                "fixed f": {"acceptance": accs["A"], "background": tpls["A"],
                            "fix_fraction": True},
                "low orders (2,2,2,1)": {"acceptance": accs["A"], "background": tpl_low}}
    for k in accs:
        if k != "A":
            variants[f"efficiency {k} ({accs[k].n_events})"] = {"acceptance": accs[k],
                                                                 "background": tpls[k]}
    results = []
    for n in args.sizes:
        for truth in args.truths:
            key = sorted(set(args.truths)).index(truth) + (0 if args.bench_keys else 100)
            t = time.perf_counter()
            c = dataclasses.replace(chain, events_per_item=n)
            ss = seed_sequence(20261202, "evaluate", 9, n, key)
            ev = EventFactory(c).draw(ss, truth, args.sets)
            n_sig, _ = c.split
            rows = {name: [] for name in variants}
            rows["signal only"] = []
            rows["own sideband"] = []
            for i in range(args.sets):
                one = {k: a[i * n:(i + 1) * n] for k, a in ev.signal.items()}
                for name, kw in variants.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        lf = LikelihoodFit.from_events(one, free=("dc9",), q2_range=None,
                                                       outside="drop", background_fraction=f,
                                                       **kw)
                        rows[name].append(lf.fit(minos=False).values["dc9"])
                sig = {k: a[:n_sig] for k, a in one.items()}
                sb = {k: a[ev.background_offsets[i]:ev.background_offsets[i + 1]]
                      for k, a in ev.background.items()}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    lf = LikelihoodFit.from_events(sig, free=("dc9",), q2_range=None,
                                                   outside="drop", acceptance=accs["A"])
                    rows["signal only"].append(lf.fit(minos=False).values["dc9"])
                    own = fit_template(sb, orders=orders, acceptance=accs["A"], q2_range=None)
                    lf = LikelihoodFit.from_events(one, free=("dc9",), q2_range=None,
                                                   outside="drop", background_fraction=f,
                                                   acceptance=accs["A"], background=own)
                    rows["own sideband"].append(lf.fit(minos=False).values["dc9"])
            # first-order (Cox–Snell) bias from the pooled events of all sets
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pooled = LikelihoodFit.from_events(ev.signal, free=("dc9",), q2_range=None,
                                                   outside="drop", background_fraction=f,
                                                   **variants["free"])
                pooled_sig = LikelihoodFit.from_events(
                    {k: a.reshape(args.sets, n)[:, :n_sig].ravel() for k, a in ev.signal.items()},
                    free=("dc9",), q2_range=None, outside="drop", acceptance=accs["A"])
            # the efficiency component of each variant's fits (common to all sets), first set
            first = {k: a[:n] for k, a in ev.signal.items()}
            s_eff = {}
            for name, kw in variants.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = fit_events(first, free=("dc9",), q2_range=None, outside="drop",
                                   background_fraction=f, **kw)
                s_eff[name] = r.error_components["efficiency"]["dc9"]
            b_free, b_fixed = _first_order_bias(pooled, truth, n)
            b_sig = _first_order_bias(pooled_sig, truth, n_sig, f0=0.0)[1][0]
            base = np.array(rows["free"])
            out = {"n": n, "truth": truth, "sets": args.sets,
                   "cox_snell": {"free": b_free[0], "fixed f": b_fixed[0], "signal only": b_sig},
                   "seconds": time.perf_counter() - t, "variants": {}}
            print(f"\nN = {n}, δC9 = {truth:+.2f}, {args.sets} sets, "
                  f"{out['seconds']:.0f} s; first-order bias free {b_free[0]:+.4f}, "
                  f"fixed f {b_fixed[0]:+.4f}, signal only {b_sig:+.4f}")
            print("| variant | mean − truth | σ | bias/σ | median − truth | paired vs free | "
                  "σ_eff |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            for name, vals in rows.items():
                v = np.array(vals)
                sd = v.std(ddof=1)
                err = sd / math.sqrt(v.size)
                dd = v - base
                row = {"bias": v.mean() - truth, "bias_error": err, "sigma": sd,
                       "bias_over_sigma": (v.mean() - truth) / sd,
                       "median_bias": float(np.median(v)) - truth,
                       "paired": dd.mean(), "paired_error": dd.std(ddof=1) / math.sqrt(v.size),
                       "sigma_eff": s_eff.get(name, math.nan), "values": v.tolist()}
                out["variants"][name] = row
                print(f"| {name} | {row['bias']:+.4f} ± {err:.4f} | {sd:.4f} | "
                      f"{row['bias_over_sigma']:+.3f} ± {1 / math.sqrt(v.size):.3f} | "
                      f"{row['median_bias']:+.4f} | {row['paired']:+.4f} ± "
                      f"{row['paired_error']:.4f} | {row['sigma_eff']:.4f} |", flush=True)
            results.append(out)
    print(f"machine at the end: {machine_line()}")
    return results


def combine(paths):
    """Combine replica outputs of the large-N mode; print one line per truth/window/template."""
    groups = {}
    for path in paths:
        for o in json.loads(Path(path).read_text()):
            for name, r in o["fits"].items():
                key = (o["truth"], o["window"], name.split(" (")[0])
                groups.setdefault(key, []).append(
                    (r["shift_vs_signal_only"], r["shift_resolution"], r["sigma24k"],
                     o["signal_only"]["minus_truth"], o["n_signal"]))
    print("| δC9 | window | template | replicas | signal events | shift | ± scatter | ± stat "
          "| shift/σ24k | signal only − truth |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    out = []
    for (truth, window, name), rows in sorted(groups.items()):
        a = np.array(rows)
        shift, res, s24, minus, n_sig = a.T
        k = len(rows)
        scatter = shift.std(ddof=1) / math.sqrt(k) if k > 1 else math.nan
        stat = math.sqrt(np.sum(res**2)) / k
        err = max(scatter, stat) if k > 1 else stat
        row = {"truth": truth, "window": window, "template": name, "replicas": k,
               "signal_events": int(n_sig.sum()), "shift": float(shift.mean()),
               "scatter_err": scatter, "stat_err": stat,
               "shift_over_sigma24k": float(shift.mean() / s24.mean()),
               "shift_over_sigma24k_err": float(err / s24.mean()),
               "signal_only_minus_truth": float(minus.mean()),
               "signal_only_minus_truth_err": float(minus.std(ddof=1) / math.sqrt(k))
               if k > 1 else math.nan}
        out.append(row)
        print(f"| {truth:+.2f} | {window} | {name} | {k} | {row['signal_events']} | "
              f"{row['shift']:+.4f} | {scatter:.4f} | {stat:.4f} | "
              f"{row['shift_over_sigma24k']:+.3f} ± {row['shift_over_sigma24k_err']:.3f} | "
              f"{row['signal_only_minus_truth']:+.4f} ± {row['signal_only_minus_truth_err']:.4f} |")
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
    p.add_argument("--combine", nargs="+", type=Path, metavar="JSON",
                   help="combine the -o outputs of independent large-N runs (replicas)")
    g = p.add_argument_group("ensemble mode (--sets): small-N pseudo-experiments of bench_ratio")
    g.add_argument("--sets", type=int, default=0, help="pseudo-experiments per size and truth")
    g.add_argument("--sizes", type=int, nargs="+", default=[8000], help="events per set")
    g.add_argument("--truths", type=float, nargs="+", default=[-0.82, 0.0])
    g.add_argument("--eff-events", type=int, default=200_000,
                   help="efficiency sample A (bench_ratio's, stream (1, 1))")
    g.add_argument("--alt-eff-events", type=int, nargs="*", default=[200_000, 1_000_000],
                   help="further independent efficiency samples (streams (1, 3), (1, 4), …)")
    g.add_argument("--sideband-sets", type=int, default=30)
    g.add_argument("--new-sets", dest="bench_keys", action="store_false",
                   help="draw sets independent of bench_ratio's (other stream keys)")
    args = p.parse_args()
    if args.combine:
        res = combine(args.combine)
        if args.output:
            args.output.write_text(json.dumps(res, indent=1, default=float))
        return
    if args.sets:
        res = ensemble(args)
        if args.output:
            args.output.write_text(json.dumps(res, indent=1, default=float))
        return
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
