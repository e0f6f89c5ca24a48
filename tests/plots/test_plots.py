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
