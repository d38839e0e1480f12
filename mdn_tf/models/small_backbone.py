"""A small fully convolutional backbone that trains usefully on a laptop CPU.

Not from the paper: it exists so that the training scripts' built-in-sample
defaults and the tests finish in minutes on 2 CPU cores. It reaches output
stride 8 with plain residual blocks, widens its receptive field with dilated
blocks (cross-part displacements span a good part of the crop), then returns
to output stride 4, the resolution of every mdn_tf head, through one
bilinear upsampling and a skip connection.
"""

import keras
from keras import layers

from mdn_tf.models.hourglass import apply_conv_bn_relu


def apply_basic_block(x, filters, dilation=1, name="block"):
    """Two 3x3 conv-BN layers with an identity (or 1x1) shortcut."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_skip")(x)
    y = layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, use_bias=False,
        name=f"{name}_conv1",
    )(x)
    y = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, use_bias=False,
        name=f"{name}_conv2",
    )(y)
    y = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def build_small_backbone(input_shape=(128, 128, 3), filters=32, name="small_backbone"):
    """Returns the small backbone as a functional model.

    Args:
        input_shape: `(H, W, 3)` with H and W multiples of 8. Defaults to
            `(128, 128, 3)`.
        filters: width at output stride 4; stride 8 uses twice as many.
            Defaults to 32.
        name: model name and layer-name prefix. Defaults to "small_backbone".

    Returns:
        A `keras.Model` mapping images `[B, H, W, 3]` (already normalised) to
        features `[B, H/4, W/4, 2 * filters]`.

    Raises:
        ValueError: for H or W not divisible by 8, or a non-positive `filters`.

    Example:

        backbone = build_small_backbone((64, 64, 3), filters=16)
        backbone.output.shape   # (None, 16, 16, 32)
    """
    height, width = input_shape[0], input_shape[1]
    if height is None or width is None or height % 8 or width % 8:
        raise ValueError(
            "the small backbone needs input height and width divisible by 8. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
        raise ValueError(f"filters must be a positive integer. Received: filters={filters!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = apply_conv_bn_relu(inputs, filters // 2, 3, strides=2, name=f"{name}_stem1")
    x = apply_conv_bn_relu(x, filters, 3, strides=2, name=f"{name}_stem2")
    stride4 = apply_basic_block(x, filters, name=f"{name}_s4")
    x = apply_conv_bn_relu(stride4, 2 * filters, 3, strides=2, name=f"{name}_down")
    for index, dilation in enumerate((1, 2, 4, 8), start=1):
        x = apply_basic_block(x, 2 * filters, dilation=dilation, name=f"{name}_s8_{index}")
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_up")(x)
    skip = layers.Conv2D(2 * filters, 1, use_bias=False, name=f"{name}_skip4")(stride4)
    x = layers.Add(name=f"{name}_merge")([x, skip])
    x = apply_basic_block(x, 2 * filters, name=f"{name}_out")
    return keras.Model(inputs, x, name=name)
