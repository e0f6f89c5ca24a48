"""Cost of the error components: a 24 000-event fit with template and efficiency nuisances.

An acceptance sample of 1 000 000 generator-level events with a cos θℓ cut stands in for the
efficiency simulation; the template (2,2,2,1) and (6,4,4,3) are fitted to 300 000 sideband-like
events.  Prints, best of 3 in the same run, the time of the plain fit (no components:
``efficiency_error="none"`` and the template covariance removed), of the full fit with the
linear (delta-method) efficiency component (the default) and with the old path, the Poisson
bootstrap of 20 Newton refits, and the ratios.

Run: ``python benchmarks/bench_fit_components.py [--density flat_angles]`` (the generator
density of the acceptance sample, weights 1/density).
"""

import argparse
import dataclasses
import math
import time

import numpy as np

from hepc9.fit import fit_events, fit_template
from hepc9.fit.acceptance import acceptance_sample
from hepc9.generate import sample_events
from hepc9.physics.constants import SEED_MODEL, q2_limits

WINDOW = tuple(float(x) for x in q2_limits(SEED_MODEL))


def _cut(ev):
    keep = np.abs(ev["costheta_l"]) < 0.9
    return {k: v[keep] for k, v in ev.items()}


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--density", default="rate", help="generator density of the acceptance sample")
    density = p.parse_args().density
    acc = acceptance_sample(_cut(sample_events(1_000_000, seed=1, shifts={}, threads=1,
                                               density=density)),
                            generated_at={}, q2_range=WINDOW, density=density)
    rng = np.random.default_rng(2)
    n_sb = 300_000
    sb = _cut({"q2": WINDOW[0] + (WINDOW[1] - WINDOW[0]) * rng.beta(1.2, 1.5, n_sb),
               "costheta_l": rng.uniform(-1, 1, n_sb),
               "costheta_k": 2 * np.sqrt(rng.uniform(0, 1, n_sb)) - 1,
               "chi": rng.uniform(0, 2 * math.pi, n_sb)})
    sig = _cut(sample_events(16_000, seed=3, shifts={"dc9": -0.82}, threads=1))
    data = {k: np.concatenate((sig[k], sb[k][:24_000 - sig[k].size])) for k in sb}
    print(f"acceptance sample ({density}) {acc.n_events} events, effective "
          f"{acc.effective_size:.0f}; "
          f"fit {data['q2'].size} events")
    for orders in ((2, 2, 2, 1), (6, 4, 4, 3)):
        tpl = fit_template(sb, orders=orders, q2_range=WINDOW, acceptance=acc)
        bare = dataclasses.replace(tpl, covariance=())
        kw = {"acceptance": acc, "background_fraction": 0.3}
        fit_events(data, background=tpl, **kw)  # warm-up
        t0, _ = best_of(lambda b=bare, kw=kw: fit_events(data, background=b,
                                                         efficiency_error="none", **kw))
        t1, r1 = best_of(lambda t=tpl, kw=kw: fit_events(data, background=t, **kw))
        t2, r2 = best_of(lambda t=tpl, kw=kw: fit_events(
            data, background=t, efficiency_error="bootstrap", efficiency_replicas=20, **kw))
        c, c2 = r1.error_components, r2.error_components
        # a first fit: no features or normalisation cached on the acceptance sample yet
        t3, _ = best_of(lambda t=tpl, kw=kw: fit_events(
            data, background=t, **{**kw, "acceptance": dataclasses.replace(acc, _cache={})}))
        print(f"orders {orders}: plain {t0:.3f} s, linear components {t1:.3f} s, bootstrap(20) "
              f"{t2:.3f} s, linear first call (cold cache) {t3:.3f} s; bootstrap/linear "
              f"{t2 / t1:.1f}, linear/plain {t1 / t0:.2f}; "
              f"dc9 = {r1.values['dc9']:+.4f}, stat {c['statistical']['dc9']:.4f}, template "
              f"{c['template']['dc9']:.4f}, efficiency linear {c['efficiency']['dc9']:.4f} / "
              f"bootstrap {c2['efficiency']['dc9']:.4f}, total {r1.errors['dc9']:.4f}")
        if orders == (2, 2, 2, 1):
            b = fit_events(data, background=tpl, efficiency_error="bootstrap",
                           efficiency_replicas=200, **kw).error_components["efficiency"]
            print(f"  check: efficiency component dc9 linear {c['efficiency']['dc9']:.4f}, "
                  f"bootstrap(200) {b['dc9']:.4f} ± {b['dc9'] / 20:.4f}; f_bkg linear "
                  f"{c['efficiency']['f_bkg']:.5f}, bootstrap(200) {b['f_bkg']:.5f}")

if __name__ == "__main__":
    main()
