"""File-level fit stage and the ``fit`` / ``crb`` commands."""

import json

import numpy as np
import pytest

from hepc9.cli import main
from hepc9.config import load_config
from hepc9.errors import DroppedRowsWarning, OutputExistsError
from hepc9.generate.sampler import sample_events
from hepc9.pipeline.fit import fit_file
from hepc9.rootio.native import make_meta, write_events

WINDOW = (1.1, 6.0)


def _write(path, n, seed, dc9, *, accept=False):
    ev = sample_events(n, seed=seed, shifts={"dc9": dc9}, q2_range=WINDOW, threads=1)
    if accept:  # a simple acceptance so that the efficiency path has something to correct
        keep = np.random.default_rng(seed).uniform(size=n) < 1 - 0.5 * ev["costheta_l"] ** 2
        ev = {k: v[keep] for k, v in ev.items()}
    meta = make_meta(
        level="gen", shifts={"dc9": dc9}, seed=seed, n_events=ev["q2"].size, config_digest=None
    )
    write_events(path, ev, meta)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    return {
        "data": _write(d / "data.root", 8000, 1, -0.82, accept=True),
        "sim": _write(d / "sim.root", 40000, 2, 0.0, accept=True),
        "dir": d,
    }


def test_fit_file_with_efficiency_writes_json(files):
    out = files["dir"] / "r.json"
    cfg = load_config(None, ["fit.q2_min=1.1", "fit.q2_max=6.0"])
    res = fit_file(files["data"], config=cfg, efficiency=files["sim"], minos=True, output=out)
    assert res.valid
    assert res.normalisation == "acceptance"
    data = json.loads(out.read_text())
    assert data["values"]["dc9"] == res.values["dc9"]
    assert data["inputs"]["efficiency"] == str(files["sim"])
    assert abs(res.values["dc9"] + 0.82) < 4 * res.errors["dc9"]
    with pytest.raises(OutputExistsError):
        fit_file(files["data"], config=cfg, output=out)


def test_cli_fit_json_and_table(files, capsys):
    rc = main(["fit", str(files["data"]), "--q2-range", "1.1,6", "--minos", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert {"values", "errors", "minos", "valid", "nll", "n_events"} <= set(data)
    assert data["n_events"] > 6000
    rc = main(
        ["fit", str(files["data"]), "--q2-range", "1.1,6", "--scan", "dc9=-1.2:-0.4:5", "--json"]
    )
    assert rc == 0
    scan = json.loads(capsys.readouterr().out)["scan"]
    assert scan["parameter"] == "dc9"
    assert len(scan["delta_nll"]) == 5
    assert min(scan["delta_nll"]) >= -1e-6
    rc = main(["fit", str(files["data"]), "--q2-range", "1.1,6", "--free", "dc9,dc10"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "dc10" in out
    assert "correlations" in out


def test_cli_fit_errors_are_one_line(files, capsys):
    rc = main(["fit", str(files["dir"] / "missing.root")])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("hepc9 fit: error:")
    assert err.count("\n") == 1
    # events outside the default (full-range) window: fine; outside a narrower window: error
    rc = main(["fit", str(files["data"]), "--q2-range", "2,5"])
    assert rc == 1
    assert "outside the fit window" in capsys.readouterr().err
    with pytest.warns(DroppedRowsWarning):
        rc = main(["fit", str(files["data"]), "--q2-range", "2,5", "--drop-outside"])
    assert rc == 0
    assert "q² in [2, 5]" in capsys.readouterr().out
    assert main(["fit", str(files["data"]), "--free", "dc99"]) == 2
    assert main(["fit", str(files["data"]), "--background-fraction", "0.3"]) == 1
    capsys.readouterr()


def test_cli_crb(capsys):
    rc = main(
        [
            "crb",
            "--dc9",
            "-0.82",
            "--events",
            "24000",
            "--q2-range",
            "1.1,6",
            "--json",
            "--set",
            "fit.fisher_nodes=[16,12,12,12]",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sigma"]["dc9"] == pytest.approx(0.0377, rel=0.01)
    rc = main(
        [
            "crb",
            "--dc9",
            "-0.82",
            "--free",
            "dc9,dc10",
            "--q2-range",
            "1.1,6",
            "--set",
            "fit.fisher_nodes=[16,12,12,12]",
        ]
    )
    assert rc == 0
    assert "σ_CRB(dc10)" in capsys.readouterr().out
    assert main(["crb", "--events", "0"]) == 2
    assert main(["crb", "--background-fraction", "0.2"]) == 1
    capsys.readouterr()


def test_config_rejects_bad_fit_values():
    from hepc9.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'dc10'"):
        load_config(None, ['fit.free=["dc11"]'])
    with pytest.raises(ConfigError, match="q2_min"):
        load_config(None, ["fit.q2_min=6.0", "fit.q2_max=1.0"])
    with pytest.raises(ConfigError, match="strategy"):
        load_config(None, ["fit.strategy=5"])


def _uniform_background(n, seed):
    rng = np.random.default_rng(seed)
    return {
        "q2": rng.uniform(*WINDOW, n),
        "costheta_l": rng.uniform(-1, 1, n),
        "costheta_k": 2 * np.sqrt(rng.uniform(0, 1, n)) - 1,  # lopsided, as for soft pions
        "chi": rng.uniform(0, 2 * np.pi, n),
        "mkpi": np.full(n, 0.89555),
        "flavour": np.ones(n, dtype=np.int8),
    }


def test_cli_fit_with_sideband_and_efficiency(files, capsys):
    d = files["dir"]
    sig = sample_events(6000, seed=31, shifts={"dc9": -0.82}, q2_range=WINDOW, threads=1)
    keep = np.random.default_rng(31).uniform(size=6000) < 1 - 0.5 * sig["costheta_l"] ** 2
    sig = {k: v[keep] for k, v in sig.items()}
    bkg = _uniform_background(1500, 32)
    data = {k: np.concatenate((sig[k], bkg[k])) for k in bkg}
    meta = make_meta(level="det", shifts={}, seed=31, n_events=data["q2"].size, config_digest=None)
    write_events(d / "mix.root", data, meta)
    sb = _uniform_background(4000, 33)
    write_events(
        d / "sb.root",
        sb,
        make_meta(level="det", shifts={}, seed=33, n_events=4000, config_digest=None),
    )
    args = [
        "fit",
        str(d / "mix.root"),
        "--q2-range",
        "1.1,6",
        "--sideband",
        str(d / "sb.root"),
        "--json",
    ]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["valid"]
    assert abs(res["values"]["f_bkg"] - 1500 / data["q2"].size) < 4 * res["errors"]["f_bkg"]
    assert (
        main([*args, "--efficiency", str(files["sim"]), "--background-fraction-error", "0.05"]) == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["normalisation"] == "acceptance"
    assert abs(res["values"]["dc9"] + 0.82) < 4 * res["errors"]["dc9"]
    rc = main(
        [
            "crb",
            "--dc9",
            "-0.82",
            "--events",
            "8000",
            "--q2-range",
            "1.1,6",
            "--efficiency",
            str(files["sim"]),
            "--sideband",
            str(d / "sb.root"),
            "--background-fraction",
            "0.2",
            "--fraction-free",
            "--json",
        ]
    )
    assert rc == 0
    crb = json.loads(capsys.readouterr().out)
    assert crb["method"] == "acceptance"
    assert crb["parameters"] == ["dc9", "f_bkg"]
