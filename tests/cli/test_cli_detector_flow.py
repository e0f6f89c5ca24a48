"""The natural detector-level flow: ``generate`` → ``simulate`` → ``fit --efficiency --sideband``.

Smearing moves a few reconstructed candidates outside the kinematic q² range; the detector-level
fit defines its window on the reconstructed q², as the efficiency sample does, so the outputs of
``hepc9 simulate`` go straight into ``hepc9 fit`` with no extra flag.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepc9.cli import main
from hepc9.physics.constants import SEED_MODEL, q2_limits
from hepc9.rootio.native import read_events


@pytest.mark.slow
def test_simulate_output_fits_without_extra_flags(tmp_path, capsys):
    p = {k: str(tmp_path / f"{k}.root") for k in ("eff_gen", "eff", "gen", "sr", "sb")}
    assert main(["generate", "--events", "60000", "--seed", "11", "--four-vectors",
                 "-o", p["eff_gen"]]) == 0
    assert main(["simulate", p["eff_gen"], "-o", p["eff"], "--no-background"]) == 0
    assert main(["generate", "--events", "12000", "--seed", "12", "--dc9", "-0.82",
                 "--four-vectors", "-o", p["gen"]]) == 0
    assert main(["simulate", p["gen"], "-o", p["sr"], "--sideband-output", p["sb"],
                 "--background"]) == 0
    lo, hi = q2_limits(SEED_MODEL)
    n_out = {}
    for k in ("eff", "sr"):
        q2 = np.asarray(read_events(p[k])[0]["q2"])
        n_out[k] = int(((q2 < lo) | (q2 > hi)).sum())
    assert n_out["eff"] + n_out["sr"] > 0  # the resolution moves candidates out: the case here
    out = tmp_path / "fit.json"
    assert main(["fit", p["sr"], "--efficiency", p["eff"], "--sideband", p["sb"], "-o",
                 str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["valid"]
    assert res["n_dropped"] == n_out["sr"]  # the reconstructed-q² window cut
    comp = res["error_components"]
    assert comp["efficiency_method"] == "linear"
    assert comp["efficiency"]["dc9"] > 0
    assert comp["template"]["dc9"] > 0
    assert abs(res["values"]["dc9"] + 0.82) < 4 * res["errors"]["dc9"]
    assert abs(res["values"]["f_bkg"] - 0.44) < 4 * res["errors"]["f_bkg"]
    # the bound with the same inputs: fixed and free background fraction side by side
    capsys.readouterr()
    assert main(["crb", "--dc9", "-0.82", "--events", "24000", "--efficiency", p["eff"],
                 "--sideband", p["sb"], "--background-fraction", "0.44", "--json"]) == 0
    crb = json.loads(capsys.readouterr().out)
    fixed, free = crb["sigma_fraction_fixed"], crb["sigma_fraction_free"]
    assert crb["sigma"] == fixed  # without --fraction-free the bound is the fixed one
    assert set(free) == {"dc9", "f_bkg"}
    assert free["dc9"] > fixed["dc9"]  # a free fraction costs information
