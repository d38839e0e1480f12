"""Stacked Hourglass blocks (Newell, Yang & Deng, ECCV 2016).

The paper's Hourglass MDNs (Neverova & Kokkinos, BMVC 2018, Sec. 3.1) put
heatmap and displacement heads after every stack: each stack's heatmaps get
intermediate supervision and the displacement predictions of all stacks are
summed before voting. This module holds the backbone pieces; the heads come
from `heads.py` through the `head_fn` callback of `apply_stacked_hourglass`.

Layer names follow `{name}_...` prefixes (`hg_stem_...`, `stack_1_hg_...`),
so weights can be matched by name. The recursive `apply_hourglass` mirrors
princeton-vl/pytorch_stacked_hourglass `models/layers.py`.
"""

from keras import layers


def apply_conv_bn_relu(x, filters, kernel_size, strides=1, name="conv"):
    """Conv -> BatchNorm -> ReLU."""
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def apply_residual(x, filters, name="residual"):
    """Pre-activation bottleneck residual module of the hourglass.

    BN-ReLU-1x1(f/2), BN-ReLU-3x3(f/2), BN-ReLU-1x1(f); a 1x1 convolution
    projects the skip path when the channel count changes.
    """
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, name=f"{name}_skip")(x)
    half = max(filters // 2, 1)
    y = x
    for index, (width, size) in enumerate(((half, 1), (half, 3), (filters, 1)), start=1):
        y = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn{index}")(y)
        y = layers.ReLU(name=f"{name}_relu{index}")(y)
        y = layers.Conv2D(width, size, padding="same", name=f"{name}_conv{index}")(y)
    return layers.Add(name=f"{name}_add")([shortcut, y])


def apply_hourglass(x, depth, filters, name="hg"):
    """One hourglass of `depth` down/up levels (recursive).

    The input size must be divisible by `2**depth`; the output has the input's
    shape.
    """
    upper = apply_residual(x, filters, name=f"{name}_up")
    lower = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    lower = apply_residual(lower, filters, name=f"{name}_low1")
    if depth > 1:
        lower = apply_hourglass(lower, depth - 1, filters, name=f"{name}_d{depth - 1}")
    else:
        lower = apply_residual(lower, filters, name=f"{name}_low2")
    lower = apply_residual(lower, filters, name=f"{name}_low3")
    lower = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(lower)
    return layers.Add(name=f"{name}_merge")([upper, lower])


def apply_hourglass_stem(x, filters, name="hg_stem"):
    """7x7/2 convolution, residuals and a 2x2 max-pool: output stride 4."""
    x = apply_conv_bn_relu(x, max(filters // 4, 8), 7, strides=2, name=f"{name}_conv1")
    x = apply_residual(x, max(filters // 2, 8), name=f"{name}_res1")
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = apply_residual(x, max(filters // 2, 8), name=f"{name}_res2")
    return apply_residual(x, filters, name=f"{name}_res3")


def apply_stacked_hourglass(x, num_stacks, filters, depth, head_fn, name="stack"):
    """Runs `num_stacks` hourglasses with heads after each.

    Args:
        x: stride-4 stem features `[B, H, W, filters]`.
        num_stacks: number of hourglasses (8 for the paper's Hourglass-8).
        filters: feature width of every hourglass.
        depth: down/up levels per hourglass (4 in Newell et al.).
        head_fn: `head_fn(features, prefix) -> tuple of tensors`; the first
            element (the heatmap logits) is remapped and added back into the
            features of the next stack, as in Newell et al.
        name: layer-name prefix; stack k uses `f"{name}_{k}"` (1-based).

    Returns:
        A list with the `head_fn` outputs of each stack, in stack order.
    """
    outputs = []
    for index in range(1, num_stacks + 1):
        prefix = f"{name}_{index}"
        y = apply_hourglass(x, depth, filters, name=f"{prefix}_hg")
        y = apply_residual(y, filters, name=f"{prefix}_res")
        y = apply_conv_bn_relu(y, filters, 1, name=f"{prefix}_lin")
        heads = head_fn(y, prefix)
        outputs.append(heads)
        if index < num_stacks:
            features = layers.Conv2D(filters, 1, name=f"{prefix}_remap_features")(y)
            predictions = layers.Conv2D(filters, 1, name=f"{prefix}_remap_heatmaps")(
                heads[0]
            )
            x = layers.Add(name=f"{prefix}_next")([x, features, predictions])
    return outputs


def check_hourglass_input(input_shape, depth):
    """Raises ValueError unless the stride-4 map is divisible by 2**depth."""
    unit = 4 * 2**depth
    height, width = input_shape[0], input_shape[1]
    if height is None or width is None or height % unit or width % unit:
        raise ValueError(
            f"an hourglass of depth {depth} needs input height and width divisible "
            f"by {unit}. Received: input_shape={tuple(input_shape)}"
        )
