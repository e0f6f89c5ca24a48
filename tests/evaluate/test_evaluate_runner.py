"""The one pseudo-experiment runner: chunks per truth, mappers, pulls and validity."""

import numpy as np
import pytest

from hepc9.errors import DataError
from hepc9.evaluate.ensembles import (
    Estimates,
    evaluate_estimator,
    run_pseudo_experiments,
    summarise_ensemble,
)


def _chunks():
    """Two chunks at truth 0, one at truth 1: values are truth + chunk offsets."""
    return [(0.0, ("a", 0.0, [0.1, -0.1, 0.3])), (1.0, ("b", 1.0, [1.2, 0.8])),
            (0.0, ("c", 0.0, [-0.2, 0.0]))]


def fit_like(chunk):
    _, _truth, values = chunk
    v = np.asarray(values)
    return {"value": list(v), "error": [0.2] * v.size, "lower": list(v - 0.2),
            "upper": list(v + 0.2), "valid": [1.0] * (v.size - 1) + [0.0]}


def test_chunks_gather_per_truth_in_order_with_pulls_and_validity():
    calls = []

    def mapper(fn, items):
        calls.append(len(items))
        return [fn(x) for x in items]

    run = run_pseudo_experiments("fit", fit_like, _chunks(), events_per_set=10, mapper=mapper)
    assert calls == [3]
    np.testing.assert_array_equal(run.result.predictions[0.0], [0.1, -0.1, 0.3, -0.2, 0.0])
    np.testing.assert_array_equal(run.result.predictions[1.0], [1.2, 0.8])
    p0 = (np.array([0.1, -0.1, 0.3, -0.2, 0.0]) - 0.0) / 0.2
    assert run.pulls["0.0"]["mean"] == pytest.approx(p0.mean())
    assert run.pulls["0.0"]["width"] == pytest.approx(p0.std(ddof=1))
    assert run.invalid == 3  # one invalid fit per chunk
    assert run.result.coverage is not None
    d = run.to_dict()
    assert d["invalid_fits"] == 3
    assert set(d["pulls"]) == {"0.0", "1.0"}
    direct = summarise_ensemble(
        "fit", {0.0: np.array([0.1, -0.1, 0.3, -0.2, 0.0]), 1.0: np.array([1.2, 0.8])},
        events_per_set=10,
        intervals={0.0: (np.array([-0.1, -0.3, 0.1, -0.4, -0.2]),
                         np.array([0.3, 0.1, 0.5, 0.0, 0.2])),
                   1.0: (np.array([1.0, 0.6]), np.array([1.4, 1.0]))})
    got, want = run.result.to_dict(), direct.to_dict()
    # the runner's interval edges are value ∓ 0.2 (rounding differs in the last bit)
    for t in ("0.0", "1.0"):
        np.testing.assert_allclose(got["intervals"][t], want["intervals"][t], atol=1e-15)
    got.pop("intervals"), want.pop("intervals")
    assert got == want


def test_predictor_outputs_give_no_pulls_and_progress_counts():
    seen = []

    def neural_like(chunk):
        _, _truth, values = chunk
        return {"dc9": np.asarray(values), "std": np.ones(len(values))}

    run = run_pseudo_experiments("deepsets", neural_like, _chunks(), events_per_set=10,
                                 seen_labels=[0.0], progress=seen.append)
    assert seen == [1, 2, 3]
    assert run.pulls is None
    assert run.invalid is None
    assert run.result.coverage is None  # no intervals reported
    assert run.result.seen == (True, False)
    assert set(run.to_dict()) == set(run.result.to_dict())


def test_estimates_forms_and_empty_input():
    e = Estimates.from_output((np.array([1.0]), None, None))
    assert e.lower is None
    assert Estimates.from_output(e) is e
    with pytest.raises(DataError, match="no pseudo-experiments"):
        run_pseudo_experiments("x", fit_like, [], events_per_set=1)
    res = evaluate_estimator("toy", lambda b: (b.mean(axis=1), None, None),
                             [(0.0, np.zeros((4, 2))), (0.0, np.ones((4, 2)))],
                             events_per_set=2)
    assert len(res.predictions[0.0]) == 8
