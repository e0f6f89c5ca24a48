"""Background whose q² and angular shapes change with Mbc (a test of the sideband method).

The default background draws every variable independently, so the Mbc sideband has exactly
the signal-region shapes and the sideband template is exact by construction.  With
``[background] mbc_shape_strength = s`` (|s| ≤ 1, default 0: off, generation unchanged) the
kinematic shapes depend on the Mbc coordinate

    z = (m0 − Mbc) / (m0 − mbc_min) ∈ [0, 1]   (0 at the endpoint E*_beam, 1 at mbc_min)

as  p(x | Mbc) ∝ p0(x) · (1 + s z P1(u_q)) · (1 + s z P2(cos θℓ)) · (1 + s z P1(cos θK)),

p0 the independent shapes of :mod:`hepc9.background`, u_q the q² variable mapped to [−1, 1].
With the default shapes the signal region (Mbc > 5.27 GeV) has z ≲ 0.2 and the sideband
(5.20–5.26 GeV) z ≈ 0.3–1, so the sideband template is biased towards larger |s z|.

Sampling: the q², cos θℓ and cos θK values of :func:`~hepc9.background.generate_background`
are kept with probability Π (1 + s z P)/(1 + |s| z)^k and the rejected ones are redrawn from
p0 (Mbc, ΔE, m(Kπ), χ and the flavour stay), until every candidate is accepted.  The extra
random numbers come from the same generator after the independent draws, so s = 0 changes
nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepc9.background.shapes import sample_legendre
from hepc9.errors import ConfigError

__all__ = ["correlate_with_mbc", "mbc_coordinate", "shape_factor"]

_MAX_ROUNDS = 10_000


def mbc_coordinate(mbc: np.ndarray, *, m0: float, mbc_min: float) -> np.ndarray:
    """Return z = (m0 − Mbc)/(m0 − mbc_min), clipped to [0, 1]."""
    return np.clip((m0 - np.asarray(mbc, dtype=np.float64)) / (m0 - mbc_min), 0.0, 1.0)


def shape_factor(
    strength: float, z: np.ndarray, u_q: np.ndarray, ctl: np.ndarray, ctk: np.ndarray
) -> np.ndarray:
    """Return the unnormalised shape factor Π (1 + s z P) of the module docstring."""
    sz = strength * np.asarray(z)
    p2 = 0.5 * (3.0 * np.asarray(ctl) ** 2 - 1.0)
    return (1.0 + sz * u_q) * (1.0 + sz * p2) * (1.0 + sz * ctk)


def correlate_with_mbc(
    out: dict[str, np.ndarray],
    *,
    strength: float,
    config: Any,
    m0: float,
    q2_range: tuple[float, float],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Reshape q², cos θℓ and cos θK of generated background with Mbc (in place).

    Parameters
    ----------
    out : dict of str to ndarray
        Output of :func:`~hepc9.background.generate_background` before this step.
    strength : float
        s, |s| ≤ 1 (0 returns ``out`` untouched and draws nothing).
    config : BackgroundConfig
        Independent shapes p0 and ``mbc_min``.
    m0 : float
        ARGUS endpoint E*_beam in GeV.
    q2_range : (float, float)
        Kinematic q² range mapped to u_q ∈ [−1, 1].
    rng : numpy.random.Generator

    Returns
    -------
    dict of str to ndarray
        ``out`` with redrawn ``q2 costheta_l costheta_k``.
    """
    s = float(strength)
    if not -1.0 <= s <= 1.0:
        raise ConfigError(f"[background] mbc_shape_strength = {s} must be in [-1, 1]")
    if s == 0.0 or out["mbc"].size == 0:
        return out
    lo, hi = q2_range
    z = mbc_coordinate(out["mbc"], m0=m0, mbc_min=config.mbc_min)
    bound = (1.0 + abs(s) * z) ** 3
    todo = np.arange(z.size)
    for _ in range(_MAX_ROUNDS):
        u_q = 2.0 * (out["q2"][todo] - lo) / (hi - lo) - 1.0
        f = shape_factor(s, z[todo], u_q, out["costheta_l"][todo], out["costheta_k"][todo])
        reject = rng.random(todo.size) * bound[todo] >= f
        todo = todo[reject]
        if todo.size == 0:
            return out
        m = todo.size
        x = sample_legendre(m, config.q2_legendre, rng=rng)
        out["q2"][todo] = lo + 0.5 * (x + 1.0) * (hi - lo)
        out["costheta_l"][todo] = sample_legendre(m, config.costheta_l_legendre, rng=rng)
        out["costheta_k"][todo] = sample_legendre(m, config.costheta_k_legendre, rng=rng)
    raise ConfigError(  # pragma: no cover - probability ~ 0 for |s| ≤ 1
        "Mbc-correlated background: accept-reject did not finish; lower mbc_shape_strength"
    )
