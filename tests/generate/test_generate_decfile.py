"""EvtGen decay files for BTOSLLNPR (formats.md §4, physics.md §3.4)."""

from __future__ import annotations

import math

import pytest

from hepc9.errors import DataError
from hepc9.generate.decfile import (
    COEFFICIENT_IDS,
    decfile_text,
    parse_btosllnpr,
    shifts_from_decfile,
)

EXAMPLE_BODY = """Alias MyB0 B0
Alias MyAntiB0 anti-B0
ChargeConj MyB0 MyAntiB0
Alias MyK*0 K*0
Alias MyAnti-K*0 anti-K*0
ChargeConj MyK*0 MyAnti-K*0

Decay Upsilon(4S)
0.500  MyB0 anti-B0    VSS;
0.500  B0 MyAntiB0    VSS;
Enddecay

Decay MyB0
1.000 MyK*0 mu+ mu- BTOSLLNPR 0 0 0.0 0.0 1 -0.82 0.0 2 0.0 0.0 3 0.0 0.0 4 0.0 0.0 5 0.0 0.0 10 0;
Enddecay
CDecay MyAntiB0

Decay MyK*0
1.000 K+ pi-   VSS;
Enddecay
CDecay MyAnti-K*0
End
"""


def _body(text):
    return "\n".join(line for line in text.splitlines() if not line.startswith("#")) + "\n"


def test_example_of_formats_section_4():
    """formats.md §4 example (dC9 = -0.82) with ids 3..5 and the explicit `10 0` added."""
    text = decfile_text({"dc9": -0.82})
    assert _body(text) == EXAMPLE_BODY
    assert text.startswith("# B0 -> K*0(-> K+ pi-) mu+ mu-, dC9 = -0.82, other shifts zero")
    assert text.endswith("End\n")


@pytest.mark.parametrize(
    "shifts",
    [
        {},
        {"dc9": -0.82},
        {"dc7": 0.1, "dc9": -1.25, "dc10": 0.75, "c7p": -0.05, "c9p": 1.0, "c10p": -0.3},
        {"dc9": 1e-7, "c10p": 3.0000000000000004},
    ],
)
def test_parses_back_to_the_same_numbers(shifts):
    text = decfile_text(shifts)
    back = shifts_from_decfile(text)
    assert back == {name: float(shifts.get(name, 0.0)) for name in COEFFICIENT_IDS}
    parsed = parse_btosllnpr(text)
    assert parsed["coord"] == 0
    assert sorted(parsed["coefficients"]) == [0, 1, 2, 3, 4, 5]
    assert all(v[1] == 0.0 for v in parsed["coefficients"].values())  # both numbers written
    assert parsed["parameters"] == {10: 0.0}


def test_wilson_shifts_object_accepted():
    from hepc9.physics.constants import WilsonShifts

    text = decfile_text(WilsonShifts(dc9=-0.5, c9p=0.25))
    assert shifts_from_decfile(text)["c9p"] == 0.25


def test_resonances_and_parameters():
    text = decfile_text({"dc9": -1.0}, resonances=True,
                        resonance_parameters={"n_r": 1.5, "theta_jpsi": 0.3})
    parsed = parse_btosllnpr(text)
    assert parsed["parameters"] == {10: 1.0, 17: 1.5, 15: 0.3}
    assert "with cc resonances" in text
    with pytest.raises(DataError, match="only used with resonances=True"):
        decfile_text({}, resonance_parameters={"n_r": 2.0})
    with pytest.raises(DataError, match="did you mean 'theta_jpsi'"):
        decfile_text({}, resonances=True, resonance_parameters={"theta_jpis": 1.0})


@pytest.mark.parametrize(
    ("shifts", "message"),
    [
        ({"dc9": math.nan}, "not finite"),
        ({"dc9": math.inf}, "not finite"),
        ({"dc10": 25.0}, "sanity limit"),
        ({"dC9": 1.0}, "did you mean 'dc9'"),
        ({"dc9": "abc"}, "is not a number"),
    ],
)
def test_invalid_values(shifts, message):
    with pytest.raises(DataError, match=message):
        decfile_text(shifts)


def test_parser_checks_ids_counts_and_mode():
    with pytest.raises(DataError, match="coordinate mode"):
        parse_btosllnpr("BTOSLLNPR 2 1 -0.82 0.0;")
    with pytest.raises(DataError, match="id 9 is unknown"):
        parse_btosllnpr("BTOSLLNPR 0 9 1.0 0.0;")
    with pytest.raises(DataError, match="needs 2 number"):
        parse_btosllnpr("BTOSLLNPR 0 1 -0.82;")
    with pytest.raises(DataError, match="given twice"):
        parse_btosllnpr("BTOSLLNPR 0 1 -0.82 0.0 1 0.5 0.0;")
    with pytest.raises(DataError, match="BTOSLLNP,"):
        parse_btosllnpr("1.000 MyK*0 mu+ mu- BTOSLLNP 0 1 -0.82 0;")
    with pytest.raises(DataError, match="no 'BTOSLLNPR"):
        parse_btosllnpr("Decay MyB0\nEnddecay\n")
    with pytest.raises(DataError, match="resonance flag"):
        parse_btosllnpr("BTOSLLNPR 0 10 2;")


def test_polar_coordinates_and_complex_refused():
    assert shifts_from_decfile("BTOSLLNPR 1 1 0.82 3.141592653589793;")["dc9"] == pytest.approx(
        -0.82, abs=1e-12)
    with pytest.raises(DataError, match="complex"):
        shifts_from_decfile("BTOSLLNPR 0 1 -0.82 0.3;")


def test_cli_decfile_stdout_and_file(tmp_path, capsys):
    from hepc9.cli import main

    assert main(["decfile", "--dc9", "-0.82"]) == 0
    out = capsys.readouterr().out
    assert _body(out) == EXAMPLE_BODY
    path = tmp_path / "dc9.dec"
    assert main(["-q", "decfile", "--dc9", "-0.82", "--c10p", "0.2", "--output", str(path)]) == 0
    assert shifts_from_decfile(path.read_text())["c10p"] == 0.2
    assert main(["-q", "decfile", "--dc9", "1", "--output", str(path)]) == 1
    assert "exists" in capsys.readouterr().err
    assert shifts_from_decfile(path.read_text())["dc9"] == -0.82
    assert main(["-q", "decfile", "--dc9", "1", "--output", str(path), "--overwrite"]) == 0
    assert shifts_from_decfile(path.read_text())["dc9"] == 1.0
    assert main(["decfile", "--dc9", "40", "--output", str(tmp_path / "big.dec")]) == 1
    assert not (tmp_path / "big.dec").exists()
    assert main(["decfile", "--dc9", "x"]) == 2
