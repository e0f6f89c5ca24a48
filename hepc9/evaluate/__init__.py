"""Evaluation of estimators on ensembles of pseudo-experiments.

``metrics``     per-point statistics (mean, σL/σR, bias, MSE, MAE), linearity fit, coverage, pulls
``ensembles``   run any estimator over labelled pseudo-experiments and summarise per label
``tables``      the ML-versus-likelihood comparison table (JSON and Markdown), σ versus N
"""

from __future__ import annotations

__all__: list[str] = []
