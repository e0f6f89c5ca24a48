"""The one close-match helper behind every "did you mean" message."""

import pytest

from hepc9.errors import ConfigError, MissingBranchError, close_matches, did_you_mean


def test_did_you_mean_suggests_the_closest_name():
    assert did_you_mean("epoch", ["epochs", "batch_size"]) == "; did you mean 'epochs'?"


def test_did_you_mean_is_empty_when_nothing_is_close():
    assert did_you_mean("zzz", ["epochs", "batch_size"]) == ""


def test_close_matches_converts_non_strings_and_limits_count():
    assert close_matches(1.0, [1.0, 10.0, 2.0], n=2) == ["1.0", "10.0"]


def test_missing_branch_lists_up_to_three_close_matches():
    err = MissingBranchError("mu_p_E", file="f.root", tree="det",
                             available=["mu_p_mcE", "mu_m_E", "mu_p_px", "K_E"])
    assert "close matches: 'mu_p_mcE', 'mu_m_E'" in str(err)


def test_config_errors_use_the_helper():
    from hepc9.config import load_config

    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_config(data={"train": {"epoch": 3}})
