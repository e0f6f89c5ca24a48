"""Every figure builds, has labelled axes and saves as PNG and PDF."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from hepc9 import plots
from hepc9.evaluate.ensembles import summarise_ensemble


def _labelled(fig):
    axes = [ax for ax in fig.axes
            if ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>"]
    assert axes
    for ax in axes:
        assert ax.get_xlabel(), "x axis without label"
        assert ax.get_ylabel(), "y axis without label"


@pytest.fixture(scope="module")
def ensemble():
    rng = np.random.default_rng(0)
    preds = {t: rng.normal(t, 0.2, 300) for t in (-2.0, -1.0, -0.82, 0.0, 1.0)}
    return summarise_ensemble("resnet3d", preds, events_per_set=24000,
                              seen_labels=[-2.0, -1.0, 0.0, 1.0])


def test_all_figures(tmp_path, ensemble):
    rng = np.random.default_rng(1)
    ev = {"q2": rng.uniform(0, 19, 1000), "costheta_l": rng.uniform(-1, 1, 1000),
          "costheta_k": rng.uniform(-1, 1, 1000), "chi": rng.uniform(0, 6.28, 1000),
          "mbc": rng.uniform(5.2, 5.29, 1000), "delta_e": rng.normal(0, 0.05, 1000),
          "is_signal": rng.integers(0, 2, 1000)}
    rows = [{"method": "fit", "truth": 0.0, "events_per_set": 24000, "sigma_over_crb": 1.01},
            {"method": "resnet3d", "truth": 0.0, "events_per_set": 24000, "sigma_over_crb": 1.6}]
    figs = [
        plots.plot_distributions({"SM": ev, "BSM": ev}),
        plots.plot_image_slices(rng.random((8, 8, 8, 2))),
        plots.plot_prediction_histograms(ensemble, truths=[0.0, -0.82]),
        plots.plot_linearity([ensemble], scaled=True),
        plots.plot_linearity([ensemble], scaled=False),
        plots.plot_training_history({"loss": [1, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.4],
                                     "learning_rate": [0.1, 0.1, 0.02]}),
        plots.plot_likelihood_scan(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21) ** 2 * 8),
        plots.plot_sigma_over_crb(rows),
        plots.plot_efficiency({"q2": {"edges": [0, 5, 10], "efficiency": [0.5, 0.7],
                                      "error": [0.01, 0.01]}}),
        plots.plot_mbc_delta_e(ev),
    ]
    for i, fig in enumerate(figs):
        _labelled(fig)
        written = plots.save_figure(fig, tmp_path / f"fig{i}")
        assert [p.suffix for p in written] == [".png", ".pdf"]
        assert all(p.stat().st_size > 1000 for p in written)


def test_sigma_over_crb_draws_corrected_ratio_with_errors():
    rows = [
        {"method": "fit", "truth": 0.0, "events_per_set": 400, "sigma_over_crb": 1.0,
         "corrected_over_crb": 1.02, "corrected_over_crb_err": 0.05, "headline": True},
        {"method": "net", "truth": 0.0, "events_per_set": 400, "sigma_over_crb": 0.4,
         "corrected_over_crb": 1.9, "corrected_over_crb_err": 0.2, "headline": False},
        {"method": "old", "truth": 0.0, "events_per_set": 400, "sigma_over_crb": 1.3},
    ]
    fig = plots.plot_sigma_over_crb(rows)
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda p: p.get_x())
    heights = [b.get_height() for b in bars]
    # methods sorted: fit, net, old; old rows fall back to the raw ratio
    assert heights == pytest.approx([1.02, 1.9, 1.3])
    assert bars[1].get_hatch() == "//"
    assert bars[0].get_hatch() is None
    from matplotlib.container import ErrorbarContainer

    spans = sorted(float(np.ptp(c.lines[2][0].get_segments()[0][:, 1]))
                   for c in ax.containers if isinstance(c, ErrorbarContainer))
    assert spans == pytest.approx([0.0, 0.1, 0.4])  # 2 × the errors (none for the old row)
    assert "slope" in ax.get_ylabel()


def test_linearity_draws_fitted_slope(ensemble):
    fig = plots.plot_linearity([ensemble])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(f"slope {ensemble.linearity.slope:.3f} ±" in lab for lab in labels)
