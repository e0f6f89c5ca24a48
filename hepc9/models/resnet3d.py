"""3D residual network regressing δC9 from quasi-images (papers/002, section 4).

Layout: input ``(X, Y, Z, C)``; stem Conv3D (64 filters, kernel 7, stride 2, same padding),
batch normalisation, ReLU, MaxPool3D (size 3, stride 2); four stages of basic residual blocks
(two 3×3×3 convolutions with batch normalisation, identity shortcut, or a 1×1×1 strided
projection with batch normalisation where the shape changes) with 64/128/256/512 filters;
global average pooling; Dense(1000) + ReLU; Dropout(0.5); Dense(1) linear.  Depth 34 has
blocks 3/4/6/3 (1 + 32 convolutions + 1 dense = 34 weighted layers in the main path), depth 18
has 2/2/2/2 and depth 10 has 1/1/1/1.  All filter counts scale with ``width``.

Convolutions that feed a batch normalisation carry no bias (the normalisation's offset plays
its role), as in the original ResNet.

χ is periodic: with ``[model] periodic_chi`` (default) every convolution pads the χ axis
(the third image axis) circularly (:class:`CircularPad`, ``keras.ops`` only) and the two
cosine axes with zeros, then convolves without padding; the output shapes equal those of
``same`` padding.  A stride-1 convolution then commutes with a roll of the image along χ.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from hepc9.errors import ConfigError, ShapeError

__all__ = ["CHI_AXIS", "STAGE_BLOCKS", "STAGE_FILTERS", "CircularPad", "build", "conv3d"]

#: Axis of χ in a batch of images ``(batch, X, Y, Z, C)``.
CHI_AXIS = 3

#: Basic blocks per stage for each supported depth.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    10: (1, 1, 1, 1),
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
}
#: Filters of the four stages at width 1.
STAGE_FILTERS: tuple[int, int, int, int] = (64, 128, 256, 512)


@keras.saving.register_keras_serializable(package="hepc9")
class CircularPad(layers.Layer):
    """Pad one axis of a batch of images periodically (wrap-around) by ``pad`` on each side.

    Parameters
    ----------
    pad : int
        Voxels added before and after.
    axis : int
        Axis of the batched input (default :data:`CHI_AXIS`).
    **kwargs
        Passed to :class:`keras.layers.Layer`.
    """

    def __init__(self, pad: int = 1, axis: int = CHI_AXIS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pad = int(pad)
        self.axis = int(axis)

    def call(self, x: Any) -> Any:  # noqa: D102
        n = int(x.shape[self.axis])
        idx = np.arange(-self.pad, n + self.pad) % n
        return ops.take(x, ops.convert_to_tensor(idx, dtype="int32"), axis=self.axis)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        shape = list(input_shape)
        shape[self.axis] = shape[self.axis] + 2 * self.pad
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "pad": self.pad, "axis": self.axis}


def conv3d(x: Any, filters: int, kernel: int, *, strides: int = 1, name: str,
           periodic: bool = True) -> Any:
    """Apply a bias-free Conv3D with ``same``-size output, χ padded circularly if ``periodic``."""
    if not periodic or kernel <= 1:
        return layers.Conv3D(filters, kernel, strides=strides, padding="same", use_bias=False,
                             name=name)(x)
    p = kernel // 2
    x = CircularPad(p, name=f"{name}_chi_pad")(x)
    x = layers.ZeroPadding3D(((p, p), (p, p), (0, 0)), name=f"{name}_pad")(x)
    return layers.Conv3D(filters, kernel, strides=strides, padding="valid", use_bias=False,
                         name=name)(x)


def _scaled(filters: int, width: float) -> int:
    return max(1, round(filters * width))


def _basic_block(x: Any, filters: int, stride: int, name: str, periodic: bool) -> Any:
    shortcut = x
    y = conv3d(x, filters, 3, strides=stride, name=f"{name}_conv1", periodic=periodic)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = conv3d(y, filters, 3, name=f"{name}_conv2", periodic=periodic)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv3d(x, filters, 1, strides=stride, name=f"{name}_proj",
                          periodic=periodic)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def build(input_shape: tuple[int, ...], cfg: Any) -> keras.Model:
    """Build the uncompiled 3D ResNet.

    Parameters
    ----------
    input_shape : tuple of int
        ``(X, Y, Z, C)``: voxels along cosθℓ, cosθK, χ and channels.
    cfg : hepc9.config.ModelConfig
        Uses ``depth`` (10/18/34), ``width``, ``stem_filters``, ``stem_kernel``,
        ``stem_stride``, ``stem_pool``, ``stem_pool_stride``, ``dense_units``, ``dropout``,
        ``periodic_chi``.

    Returns
    -------
    keras.Model
        Maps float32 ``(batch, X, Y, Z, C)`` to ``(batch, 1)`` (standardised δC9).
    """
    if len(input_shape) != 4:
        raise ShapeError(
            f"resnet3d needs image items of shape (X, Y, Z, C), got {tuple(input_shape)}; "
            "use deepsets or event for event sets"
        )
    if cfg.depth not in STAGE_BLOCKS:
        raise ConfigError(f"[model] depth = {cfg.depth} must be one of {sorted(STAGE_BLOCKS)}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    periodic = bool(getattr(cfg, "periodic_chi", False))
    x = conv3d(inputs, _scaled(cfg.stem_filters, cfg.width), cfg.stem_kernel,
               strides=cfg.stem_stride, name="stem_conv", periodic=periodic)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    if cfg.stem_pool > 0:
        x = layers.MaxPooling3D(cfg.stem_pool, strides=cfg.stem_pool_stride, padding="same",
                                name="stem_pool")(x)
    for stage, (blocks, filters) in enumerate(
        zip(STAGE_BLOCKS[cfg.depth], STAGE_FILTERS, strict=True), start=1
    ):
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            name = f"stage{stage}_block{block + 1}"
            x = _basic_block(x, _scaled(filters, cfg.width), stride, name, periodic)
    x = layers.GlobalAveragePooling3D(name="gap")(x)
    x = layers.Dense(cfg.dense_units, activation="relu", name="dense")(x)
    if cfg.dropout > 0:
        x = layers.Dropout(cfg.dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="linear", dtype="float32", name="dc9")(x)
    return keras.Model(inputs, outputs, name=f"resnet3d_{cfg.depth}")
