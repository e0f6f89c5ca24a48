"""3D ResNet builder: layout, parameter counts, shapes (papers/002 section 4)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hepc9.config import ModelConfig  # noqa: E402
from hepc9.errors import ConfigError, ShapeError  # noqa: E402
from hepc9.models import build_model  # noqa: E402
from hepc9.models.resnet3d import STAGE_BLOCKS, STAGE_FILTERS  # noqa: E402


def expected_params(channels, depth=34, width=1.0, stem=64, dense=1000):
    """Hand count: Conv3D k³·c_in·c_out (no bias), BatchNorm 4·c, Dense (in+1)·out."""

    def conv(k, cin, cout):
        return k**3 * cin * cout

    def bn(c):
        return 4 * c

    def w(f):
        return max(1, round(f * width))

    total = conv(7, channels, w(stem)) + bn(w(stem))
    cin = w(stem)
    stages = zip(STAGE_BLOCKS[depth], STAGE_FILTERS, strict=True)
    for stage, (blocks, filters) in enumerate(stages):
        f = w(filters)
        for block in range(blocks):
            total += conv(3, cin, f) + bn(f) + conv(3, f, f) + bn(f)
            if (stage > 0 and block == 0) or cin != f:
                total += conv(1, cin, f) + bn(f)
            cin = f
    return total + (cin + 1) * dense + (dense + 1) * 1


def test_paper_resnet34_at_50_cubed():
    model = build_model("resnet3d", (50, 50, 50, 1), ModelConfig())
    assert model.output_shape == (None, 1)
    assert model.count_params() == expected_params(1)
    # the exact number of the paper configuration (≈ 64 M, as papers/README.md expects)
    assert model.count_params() == 64_000_657
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv3D)]
    projections = [c for c in convs if c.name.endswith("_proj")]
    # stem + 16 basic blocks × 2 = 33 convolutions in the main path (+ Dense = 34 layers),
    # plus 3 projection shortcuts where the stage changes the shape
    assert len(convs) - len(projections) == 33
    assert len(projections) == 3
    stem = model.get_layer("stem_conv")
    assert stem.filters == 64
    assert stem.kernel_size == (7, 7, 7)
    assert stem.strides == (2, 2, 2)
    pool = model.get_layer("stem_pool")
    assert pool.pool_size == (3, 3, 3)
    assert pool.strides == (2, 2, 2)
    assert model.get_layer("dense").units == 1000
    assert model.get_layer("dropout").rate == 0.5
    assert model.get_layer("dc9").units == 1


@pytest.mark.parametrize(("depth", "width", "channels"), [(10, 0.25, 2), (18, 0.125, 1)])
def test_slim_variants(depth, width, channels):
    cfg = ModelConfig(depth=depth, width=width, dense_units=32, dropout=0.0)
    model = build_model("resnet3d", (16, 16, 16, channels), cfg)
    assert model.count_params() == expected_params(channels, depth, width, dense=32)
    x = np.random.default_rng(0).random((3, 16, 16, 16, channels)).astype(np.float32)
    out = np.asarray(model(x, training=False))
    assert out.shape == (3, 1)
    assert np.all(np.isfinite(out))
    assert "dropout" not in [layer.name for layer in model.layers]


def test_quickstart_size_runs():
    cfg = ModelConfig(depth=10, width=0.25, dense_units=64)
    model = build_model("resnet3d", (25, 25, 25, 2), cfg)
    out = model.predict_on_batch(np.zeros((2, 25, 25, 25, 2), np.float32))
    assert np.asarray(out).shape == (2, 1)


def test_rejects_sets_and_bad_depth():
    with pytest.raises(ShapeError, match="image items"):
        build_model("resnet3d", (100, 4), ModelConfig())
    with pytest.raises(ConfigError, match="depth"):
        build_model("resnet3d", (8, 8, 8, 1), ModelConfig(depth=50))
