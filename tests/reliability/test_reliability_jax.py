"""The GPU path (``KERAS_BACKEND=jax``) trained and used on CPU; models cross backends (issue 16).

Each backend runs in its own subprocess (Keras picks its backend once per process).  The test
is skipped only when JAX is not importable (install the ``jax`` extra: ``pip install
hepc9[jax]``).  The TensorFlow subprocess also checks that no TensorFlow/absl C++ log line
reaches stderr by default.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None,
    reason="JAX (or Keras) is not installed: pip install 'hepc9[jax]' to test the JAX backend",
)

TRAIN = textwrap.dedent("""
    import json, sys
    import numpy as np
    from hepc9.config import load_config
    from hepc9.train import load_predictor, predict, train_model
    out = sys.argv[1]
    cfg = load_config(None, ["model.depth=10", "model.width=0.125", "model.dense_units=8",
                             "model.phi_units=[8,8]", "model.rho_units=[8]",
                             "train.batch_size=16"])
    rng = np.random.default_rng(0)
    y = rng.choice([-1.0, 0.0, 1.0], 48).astype(np.float32)
    x = (rng.normal(size=(48, 20, 3)) + y[:, None, None]).astype(np.float32)
    result = train_model((x, y), model_name="deepsets", cfg=cfg, output=out, epochs=2)
    model, info = load_predictor(out)
    xt = (rng.normal(size=(6, 20, 3))).astype(np.float32)
    np.save(out + "/xt.npy", xt)
    import keras
    print(json.dumps({"backend": keras.backend.backend(), "backend_info": info["backend"],
                      "pred": predict(model, info, xt)["dc9"].tolist()}))
""")

LOAD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from hepc9.train import load_predictor, predict
    out = sys.argv[1]
    model, info = load_predictor(out)
    import keras
    print(json.dumps({"backend": keras.backend.backend(),
                      "pred": predict(model, info, np.load(out + "/xt.npy"))["dc9"].tolist()}))
""")


def _python(code, *args, backend, cwd):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(PYTHONPATH=str(ROOT), KERAS_BACKEND=backend, JAX_PLATFORMS="cpu",
               CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=900, env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_jax_trains_predicts_and_its_model_loads_under_tensorflow(tmp_path):
    model = tmp_path / "jax_model"
    trained, _ = _python(TRAIN, str(model), backend="jax", cwd=tmp_path)
    assert trained["backend"] == "jax"
    assert trained["backend_info"] == "jax"
    assert len(trained["pred"]) == 6
    assert all(v == v for v in trained["pred"])  # finite, no NaN
    loaded, stderr = _python(LOAD, str(model), backend="tensorflow", cwd=tmp_path)
    assert loaded["backend"] == "tensorflow"
    for a, b in zip(trained["pred"], loaded["pred"], strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    # TensorFlow's C++ start-up lines are silenced by default (hepc9.models._backend)
    for noise in ("cpu_feature_guard", "oneDNN", "absl::InitializeLog"):
        assert noise not in stderr


EXACT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from hepc9.config import load_config
    from hepc9.pipeline.train import train_from_folder
    from hepc9.train import load_predictor, predict
    out = sys.argv[1]
    cfg = load_config(None, ["train.exact_events=100000", "train.ratio_block_events=50000",
                             "train.ratio_reference_events=20000", "model.exact_units=[16]",
                             "datasets.events_per_image=100"])
    train_from_folder(cfg, None, out, model_name="event_exact", progress=False)
    model, info = load_predictor(out)
    xt = np.random.default_rng(1).normal(size=(3, 100, 5)).astype(np.float32)
    np.save(out + "/xt.npy", xt)
    import keras
    head = model.get_layer("logits")
    print(json.dumps({"backend": keras.backend.backend(), "z": info["labels"]["z_quadratic"],
                      "frozen": [float(v) for v in np.asarray(head.z)],
                      "pred": predict(model, info, xt)["dc9"].tolist()}))
""")


def test_event_exact_trains_under_jax_with_its_head_held_fixed(tmp_path):
    model = tmp_path / "exact_jax"
    trained, _ = _python(EXACT, str(model), backend="jax", cwd=tmp_path)
    assert trained["backend"] == "jax"
    # the global Z of the head is not trained (the targets' optimum is itself quadratic)
    assert trained["frozen"] == pytest.approx([10.0, 0.0, -30.0])
    assert all(np.isfinite(trained["z"]))
    loaded, _ = _python(LOAD, str(model), backend="tensorflow", cwd=tmp_path)
    for a, b in zip(trained["pred"], loaded["pred"], strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
