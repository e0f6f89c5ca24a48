"""Fixtures of the detector tests: generator-level events with lab four-vectors.

The events are drawn from simple distributions (uniform q² and angles), built in the B frame
with :func:`hepc9.kinematics.four_vectors_from_angles`, rotated isotropically in the B frame
(a spin-0 B decays isotropically) and boosted into the Belle II lab frame.  The detector
response does not depend on the physics model, so these tests do not need the sampler.
"""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hepc9 import kinematics
from hepc9.physics.constants import SEED_MODEL as C


def make_events(n, seed, *, q2_range=(0.1, 19.0)):
    rng = np.random.default_rng(seed)
    ev = {
        "q2": rng.uniform(*q2_range, n),
        "costheta_l": rng.uniform(-1.0, 1.0, n),
        "costheta_k": rng.uniform(-1.0, 1.0, n),
        "chi": rng.uniform(0.0, 2.0 * np.pi, n),
        "mkpi": np.full(n, C.m_kstar),
        "flavour": np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
    }
    p4 = kinematics.four_vectors_from_angles(
        ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"], ev["mkpi"], ev["flavour"],
        m_b=C.m_B0, m_k=C.m_K, m_pi=C.m_pi, m_mu=C.m_mu,
    )
    rot = Rotation.random(n, random_state=rng)
    p4 = {k: np.concatenate([v[:, :1], rot.apply(v[:, 1:])], axis=1) for k, v in p4.items()}
    lab = kinematics.to_lab(p4, rng=rng, m_b=C.m_B0)
    for name, arr in lab.items():
        for i, comp in enumerate(("e", "px", "py", "pz")):
            ev[f"{name}_{comp}"] = np.ascontiguousarray(arr[:, i])
    return ev


@pytest.fixture(scope="session")
def gen_events():
    return make_events(60_000, 11)


@pytest.fixture(scope="session")
def make():
    return make_events
