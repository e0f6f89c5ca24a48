"""First-order error propagation by central differences along a covariance's eigenvectors.

An estimate x̂ that depends on inputs with covariance V moves, to first order, by J δ for an
input change δ.  With V = Σ_k s_k s_kᵀ (s_k = √λ_k v_k, :func:`eigen_steps`) the delta method
gives Var(x̂) = Σ_k (J s_k)², and :func:`central_variance` takes each J s_k as the central
difference (x̂(+s_k) − x̂(−s_k)) / 2, exact to second order in the step.  Both the likelihood
fit's template and efficiency components (:mod:`hepc9.fit.uncertainty`) and the learned
likelihood's normalisation error (:mod:`hepc9.models.ratio_fit`) use it.  Plain numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["central_variance", "eigen_steps"]


def eigen_steps(cov: np.ndarray) -> list[np.ndarray]:
    """Return the steps √λ_k v_k (one per positive eigenvalue) of a covariance matrix.

    The eigenvectors are those of the correlation matrix, scaled back by the standard
    deviations, so inputs of very different scales (packed 𝕄 entries next to Z) keep their
    directions: Σ_k s_k s_kᵀ = V still holds.  Inputs without spread take no step.
    """
    c = np.asarray(cov, dtype=np.float64)
    sd = np.sqrt(np.clip(np.diag(c), 0.0, None))
    live = sd > 0.0
    if not live.any():
        return []
    corr = c[np.ix_(live, live)] / np.outer(sd[live], sd[live])
    lam, vec = np.linalg.eigh(corr)
    tol = float(lam.max()) * 1e-12
    steps = []
    for k in range(lam.size):
        if lam[k] > tol:
            step = np.zeros(c.shape[0])
            step[live] = sd[live] * math.sqrt(lam[k]) * vec[:, k]
            steps.append(step)
    return steps


def central_variance(shift: Callable[[np.ndarray], np.ndarray], steps: list[np.ndarray],
                     m: int) -> np.ndarray:
    """Return Σ_k ((shift(s_k) − shift(−s_k)) / 2)², the variance of the m outputs of ``shift``."""
    var = np.zeros(m)
    for step in steps:
        var += (0.5 * (np.asarray(shift(step)) - np.asarray(shift(-step)))) ** 2
    return var
