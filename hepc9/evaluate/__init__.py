"""Evaluation of estimators on ensembles of pseudo-experiments.

``metrics``     per-point statistics (mean, σL/σR, bias, MSE, MAE), linearity fit, coverage, pulls,
                raw and slope-corrected resolution
``belts``       toy-calibrated (Neyman) confidence belts and held-out per-set intervals
``results``     :class:`EnsembleResult` (summaries, stored intervals, training prior, fraction mode)
``ensembles``   run any estimator over labelled pseudo-experiments and summarise per label
``tables``      the ML-versus-likelihood comparison table (JSON and Markdown), σ versus N
"""

from __future__ import annotations

__all__: list[str] = []
