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


def test_check_names_refuses_empty_unknown_and_repeated_names():
    from hepc9.errors import DataError, check_names

    assert check_names(["b", "a"], ("a", "b"), what="x") == ("b", "a")
    with pytest.raises(ConfigError, match=r"x is empty; choose from a, b"):
        check_names([], ("a", "b"), what="x")
    with pytest.raises(ConfigError, match=r"x: unknown name 'alpha'; did you mean 'alpha2'\?"):
        check_names(["alpha"], ("alpha2", "b"), what="x")
    with pytest.raises(DataError, match=r"contain duplicates: a"):
        check_names(["a", "a"], ("a", "b"), what="x", error=DataError)


def test_free_parameters_and_set_features_use_the_one_name_check():
    from hepc9.datasets.sets import feature_matrix
    from hepc9.errors import DataError
    from hepc9.fit.likelihood import check_free

    assert check_free("dc10, dc9") == ("dc9", "dc10")
    with pytest.raises(DataError, match=r"unknown name 'dc99'; did you mean"):
        check_free("dc99")
    with pytest.raises(DataError, match="duplicates"):
        check_free(["dc9", "dc9"])
    with pytest.raises(ConfigError, match=r"unknown name 'cos_ch'; did you mean 'cos_chi'\?"):
        feature_matrix({}, ["q2", "cos_ch"])
