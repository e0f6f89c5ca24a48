"""``event_exact``: soft targets from the exact per-event rate, and a small trained closure."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hepc9.config import load_config  # noqa: E402
from hepc9.datasets.sets import DEFAULT_FEATURES, feature_matrix  # noqa: E402
from hepc9.errors import ConfigError  # noqa: E402
from hepc9.generate.sampler import sample_events  # noqa: E402
from hepc9.models.event_posterior import coefficient_model  # noqa: E402
from hepc9.models.inputs import prepare_inputs  # noqa: E402
from hepc9.models.quadratic_head import normalised_theta, quadratic_terms  # noqa: E402
from hepc9.pipeline.train import train_from_folder  # noqa: E402
from hepc9.simulation import ChainInputs  # noqa: E402
from hepc9.train import load_predictor, predict  # noqa: E402
from hepc9.train.event_exact import _in_t, _norm_vector, soft_targets  # noqa: E402
from hepc9.train.ratio_blocks import RatioBlock, draw_block  # noqa: E402

NODES = np.linspace(-2.5, 1.5, 81)
SMALL = ["train.exact_events=2000000", "train.ratio_block_events=250000",
         "train.ratio_reference_events=200000", "datasets.events_per_image=2000",
         "datasets.prior_range=[-2.5, 1.5]", "model.event_bins=81"]


@pytest.fixture(scope="module")
def reference_block():
    cfg = load_config(None)
    chain = ChainInputs.from_config(cfg)
    blk = draw_block(chain, np.random.SeedSequence(31), 200_000, dc9=0.0, params=("dc9",),
                     features=DEFAULT_FEATURES)
    norm, exact = _norm_vector(chain, blk, 0.0)
    assert exact
    return blk, norm


def test_soft_targets_are_normalised_and_background_follows_the_rate():
    rng = np.random.default_rng(4)
    lin = rng.normal(0.2, 0.3, 50)
    quad = lin**2 / 4 + rng.uniform(0.0, 0.1, 50)       # a sum of squares: ℓ² ≤ 4q
    blk = RatioBlock(x=np.zeros((50, 5)), y=np.stack([lin, quad], axis=1),
                     xb=np.zeros((7, 5)))
    norm = np.array([0.22, 0.03])
    t, w = soft_targets(blk, NODES, 0.0, norm)
    assert t.shape == (57, NODES.size)
    assert w.shape == (57,)
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-5)
    # signal: t_k ∝ 1 + ℓ d_k + q d_k²; background: t_k ∝ W(θ_k) (its density has no θ)
    d = NODES
    sig = 1 + lin[:, None] * d + quad[:, None] * d**2
    np.testing.assert_allclose(t[:50], sig / sig.sum(axis=1, keepdims=True), rtol=1e-5)
    big_w = 1 + norm[0] * d + norm[1] * d**2
    np.testing.assert_allclose(t[50:], np.broadcast_to(big_w / big_w.sum(), (7, d.size)),
                               rtol=1e-5)
    # weights ∝ mean_k w_k
    np.testing.assert_allclose(w[:50] / w[50], sig.mean(axis=1) / big_w.mean(), rtol=1e-5)
    with pytest.raises(ConfigError, match="prior_range"):
        soft_targets(blk, NODES, 0.0, np.array([0.0, -0.5]))


def test_weighted_class_marginal_is_the_normalised_rate(reference_block):
    """E₀[m t_k] ∝ W(θ_k) = Γ(θ_k)/Γ(θ₀): the exact integrated rate of physics.md."""
    blk, norm = reference_block
    t, w = soft_targets(blk, NODES, 0.0, norm)
    t, w = t.astype(np.float64), w.astype(np.float64)      # float32 targets, float64 sums
    marginal = (w[:, None] * t).sum(axis=0) / w.sum()
    big_w = 1 + norm[0] * NODES + norm[1] * NODES**2
    # the per-event spread of w_k gives the sample error of the marginal
    per_event = 1 + blk.y[:, 0:1] * NODES + blk.y[:, 1:2] * NODES**2
    rel_err = per_event.std(axis=0) / np.sqrt(len(per_event)) / big_w
    # relative to the reference node (w = 1 there for every event): marginal_k / marginal_0
    # = mean_i w_ik, which estimates W(θ_k) = 1 + R_ℓ d + R_q d² with R from the exact integral
    k0 = int(np.argmin(np.abs(NODES)))
    assert NODES[k0] == pytest.approx(0.0, abs=1e-12)
    ratio = marginal / marginal[k0] / big_w
    pull = np.abs(ratio - 1) / np.maximum(rel_err, 1e-12)
    assert np.all(np.abs(ratio - 1) < 4 * rel_err + 1e-9), pull.max()
    assert np.max(np.abs(ratio - 1)) > 0                     # not the trivial identity


def test_targets_reweight_the_reference_events_to_another_point(reference_block):
    """Σ m t_k f(x) / Σ m t_k over events at θ₀ is the mean of f over events at θ_k."""
    blk, norm = reference_block
    t, w = soft_targets(blk, NODES, 0.0, norm)
    k = int(np.argmin(np.abs(NODES + 2.0)))
    wk = w.astype(np.float64) * t[:, k]
    ev = sample_events(200_000, seed=77, shifts={"dc9": float(NODES[k])}, threads=1)
    direct = feature_matrix(ev, DEFAULT_FEATURES)
    for j in range(3):                                    # q², cosθℓ, cosθK
        f = blk.x[:, j]
        reweighted = np.sum(wk * f) / np.sum(wk)
        err = np.hypot(direct[:, j].std() / np.sqrt(len(direct)),
                       np.sqrt(np.sum(wk**2 * (f - reweighted) ** 2)) / np.sum(wk))
        assert abs(reweighted - direct[:, j].mean()) < 4 * err, (j, reweighted, err)
    # and δC9 = −2 changes the cosθℓ mean visibly (the test has power)
    assert abs(direct[:, 1].mean() - blk.x[:, 1].mean()) > 10 * err


def test_weights_rewritten_in_the_normalised_variable():
    lin, quad, t0, half = np.array([0.3, -0.1]), np.array([0.05, 0.2]), -0.25, 2.0
    abc = _in_t(lin, quad, t0, half)
    for t in (-1.0, 0.1, 0.7):
        d = half * (t - t0)
        np.testing.assert_allclose(abc @ np.array([1.0, t, t * t]), 1 + lin * d + quad * d * d)


@pytest.fixture(scope="module")
def exact_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("event_exact") / "model"
    result = train_from_folder(load_config(None, SMALL), None, out, model_name="event_exact",
                               progress=False)
    return out, result


def test_trained_posterior_follows_the_exact_rate(exact_model, reference_block):
    out, result = exact_model
    model, info = load_predictor(out)
    assert info["model"] == "event_exact"
    assert info["training"]["labels"] == "exact per-event posteriors"
    assert info["training"]["normalisation"] == "control variate"
    # excess cross-entropy = KL(exact ‖ learned) per event: small and not negative
    assert -1e-4 < result["validation"]["excess"] < 5e-3
    blk, norm = reference_block
    nodes = np.asarray(info["labels"]["grid"])
    x = prepare_inputs(info_features(blk, info), info)
    raw = np.asarray(coefficient_model(model).predict(x[:50_000], verbose=0), dtype=np.float64)
    a, b, c = (v[:, 0] for v in quadratic_terms(raw))
    t0, half = normalised_theta(0.0, nodes), 0.5 * (nodes[-1] - nodes[0])
    q0 = a + b * t0 + c * t0**2
    learned_lin = (b + 2 * c * t0) / half / q0          # d log q / dδC9 at θ₀
    corr = np.corrcoef(learned_lin, blk.y[:50_000, 0])[0, 1]
    assert corr >= 0.9, corr
    # the reference normalisation is the exact rate ratio W(θ)/W(θ₀)
    zq = np.asarray(info["labels"]["z_quadratic"])
    for theta in (-2.0, -0.82, 0.0, 1.0):
        z = np.polyval(zq[::-1], normalised_theta(theta, nodes))
        assert z == pytest.approx(1 + norm[0] * theta + norm[1] * theta**2, rel=0.02)


def info_features(blk, info):
    """The block's raw features standardised as the model's stored sets are."""
    from hepc9.datasets.sets import SetSpec

    return SetSpec.from_dict(info["dataset_index"]["standardisation"]).standardise(blk.x)


def test_closure_pulls_and_intervals(exact_model):
    out, _ = exact_model
    model, info = load_predictor(out)
    from hepc9.datasets.sets import SetSpec

    spec = SetSpec.from_dict(info["dataset_index"]["standardisation"])
    pulls, means = [], []
    n_sets, n_ev = 20, 4000
    for i, truth in enumerate((-1.2, 0.3)):
        ev = sample_events(n_sets * n_ev, seed=600 + i, shifts={"dc9": truth}, threads=1)
        sets = spec.standardise(feature_matrix(ev, DEFAULT_FEATURES)).reshape(n_sets, n_ev, -1)
        res = predict(model, info, sets)
        assert np.all(res["lower"] < res["dc9"])
        assert np.all(res["dc9"] < res["upper"])
        half = 0.5 * (res["upper"] - res["lower"])
        pulls.append((res["dc9"] - truth) / half)
        means.append(res["dc9"].mean())
    p = np.concatenate(pulls)
    assert abs(p.mean()) < 4 / np.sqrt(p.size)
    assert 0.6 < p.std(ddof=1) < 1.5
    assert means[1] - means[0] > 1.0


def test_saved_model_loads_and_predicts_in_a_fresh_process(exact_model, tmp_path):
    """The quadratic head registers on import of its builder module (``hepc9 predict``)."""
    import json
    import subprocess
    import sys

    out, _ = exact_model
    xt = np.random.default_rng(2).normal(size=(2, 300, 5)).astype(np.float32)
    np.save(tmp_path / "xt.npy", xt)
    code = ("import json, sys, numpy as np\n"
            "from hepc9.train import load_predictor, predict\n"
            "model, info = load_predictor(sys.argv[1])\n"
            "print(json.dumps(predict(model, info, np.load(sys.argv[2]))['dc9'].tolist()))\n")
    run = subprocess.run([sys.executable, "-c", code, str(out), str(tmp_path / "xt.npy")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    fresh = json.loads(run.stdout.strip().splitlines()[-1])
    model, info = load_predictor(out)
    np.testing.assert_allclose(fresh, predict(model, info, xt)["dc9"], rtol=1e-5, atol=1e-6)
