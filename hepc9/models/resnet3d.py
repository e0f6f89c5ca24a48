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
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from hepc9.errors import ConfigError, ShapeError

__all__ = ["STAGE_BLOCKS", "STAGE_FILTERS", "build"]

#: Basic blocks per stage for each supported depth.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    10: (1, 1, 1, 1),
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
}
#: Filters of the four stages at width 1.
STAGE_FILTERS: tuple[int, int, int, int] = (64, 128, 256, 512)


def _scaled(filters: int, width: float) -> int:
    return max(1, round(filters * width))


def _basic_block(x: Any, filters: int, stride: int, name: str) -> Any:
    shortcut = x
    y = layers.Conv3D(filters, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.Conv3D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv3D(filters, 1, strides=stride, padding="same", use_bias=False,
                                 name=f"{name}_proj")(x)
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
        ``stem_stride``, ``stem_pool``, ``stem_pool_stride``, ``dense_units``, ``dropout``.

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
    x = layers.Conv3D(_scaled(cfg.stem_filters, cfg.width), cfg.stem_kernel,
                      strides=cfg.stem_stride, padding="same", use_bias=False,
                      name="stem_conv")(inputs)
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
            x = _basic_block(x, _scaled(filters, cfg.width), stride, name)
    x = layers.GlobalAveragePooling3D(name="gap")(x)
    x = layers.Dense(cfg.dense_units, activation="relu", name="dense")(x)
    if cfg.dropout > 0:
        x = layers.Dropout(cfg.dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="linear", dtype="float32", name="dc9")(x)
    return keras.Model(inputs, outputs, name=f"resnet3d_{cfg.depth}")
