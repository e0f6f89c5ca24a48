"""FitOptions: one options object through fit_events, LikelihoodFit and the fit command backend."""

import dataclasses

import numpy as np
import pytest

from hepc9.config import load_config
from hepc9.errors import ConfigError, DataError
from hepc9.fit.likelihood import FitOptions, LikelihoodFit, fit_events
from hepc9.generate.sampler import sample_events
from hepc9.physics.constants import SEED_MODEL, WilsonShifts, q2_limits
from hepc9.pipeline.fit import fit_options, fit_window

WINDOW = (1.1, 6.0)
HI = float(q2_limits(SEED_MODEL)[1])


@pytest.fixture(scope="module")
def sample():
    return sample_events(3000, seed=21, shifts=WilsonShifts(dc9=-0.5), q2_range=WINDOW, threads=1)


def test_options_are_normalised_and_frozen():
    opts = FitOptions(free="dc10, dc9", fixed={"c9p": 0.2}, q2_range=[1.1, 6.0],
                      start={"dc9": 0.1})  # fmt: skip
    assert opts.free == ("dc9", "dc10")  # canonical SHIFT_NAMES order
    assert opts.fixed == WilsonShifts(c9p=0.2)
    assert opts.q2_range == (1.1, 6.0)
    assert opts.expansion_point() == WilsonShifts(c9p=0.2)
    assert FitOptions(free="dc9", fixed={"dc9": 3.0}).expansion_point() == WilsonShifts()
    assert opts.window() == (1.1, 6.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.minos = True  # type: ignore[misc]
    assert FitOptions.build() == FitOptions()
    assert FitOptions.build(opts, minos=True) == opts.replace(minos=True)
    assert FitOptions.build(opts) is opts


def test_unknown_or_bad_options_are_rejected():
    with pytest.raises(TypeError, match="did you mean 'minos'"):
        FitOptions().replace(minso=True)
    with pytest.raises(TypeError, match="did you mean 'q2_range'"):
        fit_events({}, q2_rnage=WINDOW)
    with pytest.raises(DataError, match="outside"):
        FitOptions(outside="keep")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="did you mean 'dc9'"):
        FitOptions(free="dc8")
    with pytest.raises(DataError, match="kinematic range"):
        FitOptions(q2_range=(1.0, 30.0)).window()


def test_options_object_and_keywords_give_the_same_fit(sample):
    opts = FitOptions(free="dc9,dc10", q2_range=WINDOW, minos=True)
    a = fit_events(sample, options=opts)
    b = fit_events(sample, free="dc9,dc10", q2_range=WINDOW, minos=True)
    assert a.to_dict() == b.to_dict()
    assert a.minos is not None
    assert set(a.minos) == {"dc9", "dc10"}
    # keywords override the options object
    c = fit_events(sample, options=opts, free="dc9", minos=False)
    assert c.free == ("dc9",)
    assert c.minos is None


def test_fit_uses_the_minimiser_options_of_the_fit_and_accepts_only_those(sample):
    lf = LikelihoodFit.from_events(sample, options=FitOptions(q2_range=WINDOW, minos=True))
    assert lf.fit().minos is not None
    assert lf.fit(minos=False).minos is None
    with pytest.raises(TypeError, match="minimiser options"):
        lf.fit(q2_range=WINDOW)


def test_scan_needs_a_fit_and_never_runs_one_silently(sample):
    lf = LikelihoodFit.from_events(sample, q2_range=WINDOW)
    assert lf.result is None
    with pytest.raises(DataError, match=r"call fit\(\) before scan\(\)"):
        lf.scan("dc9", [-0.5, 0.0])
    assert lf.result is None  # no fit was run behind the caller's back
    best = LikelihoodFit.from_events(sample, q2_range=WINDOW).fit()
    given = lf.scan("dc9", [-0.5, 0.0], best=best)
    res = lf.fit()
    assert lf.result is res
    after = lf.scan("dc9", [-0.5, 0.0])
    np.testing.assert_array_equal(given.delta_nll, after.delta_nll)
    other = fit_events(sample, free="dc9,dc10", q2_range=WINDOW)
    with pytest.raises(DataError, match="parameters"):
        lf.scan("dc9", [0.0], best=other)


def test_fit_events_stores_the_profile_in_the_result(sample):
    res = fit_events(sample, q2_range=WINDOW, scan=("dc9", [-1.0, -0.5, 0.0]))
    lf = LikelihoodFit.from_events(sample, q2_range=WINDOW)
    ref = lf.scan("dc9", [-1.0, -0.5, 0.0], best=lf.fit())
    assert res.scan == ref.to_dict()


def test_the_fit_command_builds_its_options_from_the_config():
    cfg = load_config(None, ["fit.free=['dc9','dc10']", "fit.minos=true", "fit.min_events=50",
                             "fit.q2_min=1.1", "fit.outside='drop'"])  # fmt: skip
    opts = fit_options(cfg)
    assert opts.free == ("dc9", "dc10")
    assert opts.minos
    assert opts.min_events == 50
    assert opts.outside == "drop"
    assert opts.q2_range == (1.1, HI)  # the missing [fit] edge is the kinematic limit
    # None keeps the configured value (unset command-line flags), others override
    over = fit_options(cfg, free=None, minos=False, q2_range=(2.0, 5.0))
    assert over.free == ("dc9", "dc10")
    assert not over.minos
    assert over.q2_range == (2.0, 5.0)
    assert fit_window(load_config(None, [])) is None


def test_an_unphysical_fit_window_in_the_config_is_a_config_error():
    cfg = load_config(None, ["fit.q2_max=30.0"])
    with pytest.raises(ConfigError, match=r"\[fit\] q2_min/q2_max"):
        fit_options(cfg)
