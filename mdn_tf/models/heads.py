"""Heads and variant logic shared by every mdn_tf pose model.

After the backbone (Neverova & Kokkinos, BMVC 2018, Sec. 3-4): an optional
1x1 bottleneck, bilinear upsampling to output stride 4, then three 1x1 heads
-- heatmap logits (J channels), and the x and y displacements (one channel
per voting edge, E). The variant decides what happens next:

- `baseline`: heatmaps only; `final` is their sigmoid.
- `posthoc`: heatmap and displacement heads trained with their own losses;
  voting is applied to stopped-gradient copies, so it only matters at
  inference.
- `stn`: heatmaps backward-warped by the field (`BilinearWarp`), end to end.
  Its field is bounded (`SoftBound`, `STN_FIELD_BOUND` codec units) and
  supervised with gather targets (`MDNCodec(displacements="gather")`).
- `mdn`: heatmaps voted forward by the field (`MassDisplacement`), end to end.

Displacement heads predict in the units of the data codec's targets
(`mdn_tf.data.targets`); `ScaleChannels` turns them into pixels with one
factor per edge before voting or warping.

Shapes: B batch, H x W output map size, J joints, E edges, T = J targets.
"""

import keras
from keras import layers

from mdn_tf.layers.mass_displacement import MassDisplacement
from mdn_tf.models.stn_warp import BilinearWarp

VARIANTS = ("baseline", "posthoc", "stn", "mdn")
# The STN field's bound in codec units: 3 eps_c = 9 map pixels within-part, a
# bit more than the longest gather target (2 eps_c at the vicinity's rim).
STN_FIELD_BOUND = 3.0


@keras.saving.register_keras_serializable(package="mdn_tf")
class SoftBound(keras.layers.Layer):
    """`bound * tanh(x / bound)`: the identity near 0, never beyond +-bound.

    Bounds the STN's displacement field, so no read wanders off across the
    map while the field is still untrained; zero (the identity warp) stays
    the field's starting point.

    Args:
        bound: a positive number. Defaults to `STN_FIELD_BOUND`.
    """

    def __init__(self, bound=STN_FIELD_BOUND, **kwargs):
        super().__init__(**kwargs)
        if isinstance(bound, bool) or not (isinstance(bound, (int, float)) and bound > 0):
            raise ValueError(f"bound must be a positive number. Received: bound={bound!r}")
        self.bound = float(bound)

    def call(self, inputs):
        return self.bound * keras.ops.tanh(inputs / self.bound)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "bound": self.bound}


@keras.saving.register_keras_serializable(package="mdn_tf")
class CaffePreprocess(keras.layers.Layer):
    """RGB images in `[0, input_range]` to the caffe input of Keras ResNets.

    Equals `keras.applications.resnet.preprocess_input(x * 255 / input_range)`:
    RGB -> BGR, 0-255, ImageNet channel means subtracted. Keeping it inside
    the model lets one data pipeline feed every backbone.

    Args:
        input_range: the value of a white pixel in the model input. Defaults
            to 1.0.

    Input shape:
        `[B, H, W, 3]` RGB.

    Output shape:
        `[B, H, W, 3]` mean-subtracted BGR.
    """

    _BGR_MEAN = (103.939, 116.779, 123.68)

    def __init__(self, input_range=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(input_range, bool) or not isinstance(input_range, (int, float)) or not (
            input_range > 0
        ):
            raise ValueError(
                f"input_range must be a positive number. Received: input_range={input_range!r}"
            )
        self.input_range = float(input_range)

    def call(self, images):
        images = keras.ops.cast(images, self.compute_dtype) * (255.0 / self.input_range)
        bgr = keras.ops.flip(images, axis=-1)
        return bgr - keras.ops.convert_to_tensor(self._BGR_MEAN, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "input_range": self.input_range}


@keras.saving.register_keras_serializable(package="mdn_tf")
class ScaleChannels(keras.layers.Layer):
    """Multiplies each channel by a fixed factor (codec units -> pixels).

    Args:
        scales: one float per channel.

    Input shape:
        `[..., C]` with C = len(scales).

    Output shape:
        Same as input.
    """

    def __init__(self, scales, **kwargs):
        super().__init__(**kwargs)
        self.scales = [float(s) for s in scales]

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != len(self.scales):
            raise ValueError(
                f"ScaleChannels has {len(self.scales)} scales but the input has "
                f"{input_shape[-1]} channels. Received: input_shape={tuple(input_shape)}"
            )
        self.built = True

    def call(self, x):
        return x * keras.ops.convert_to_tensor(self.scales, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scales": self.scales}


@keras.saving.register_keras_serializable(package="mdn_tf")
class StopGradient(keras.layers.Layer):
    """Identity in the forward pass, no gradient backward (the posthoc vote)."""

    def call(self, x):
        return keras.ops.stop_gradient(x)

    def compute_output_shape(self, input_shape):
        return input_shape


def apply_bottleneck(x, filters=512, name="bottleneck"):
    """1x1 convolution, BatchNorm, ReLU: 2048 -> 512 channels for ResNets."""
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def apply_upsampling(x, factor, name="upsample"):
    """Bilinear upsampling by an integer factor (identity for 1)."""
    if factor == 1:
        return x
    return layers.UpSampling2D(factor, interpolation="bilinear", name=name)(x)


def apply_pose_heads(x, num_joints, num_edges, name="head"):
    """Three 1x1 heads: heatmap logits and x/y displacements.

    The heads run in float32 under mixed precision, so voting and losses see
    full-precision maps. Displacement heads start at zero (no displacement),
    which makes the first MDN forward pass equal to plain heatmaps spread by
    the kernel instead of random scatter.

    Returns:
        `(logits [B, H, W, J], offsets_x [B, H, W, E], offsets_y [B, H, W, E])`;
        the offsets are None when `num_edges` is 0.
    """
    logits = layers.Conv2D(
        num_joints, 1, dtype="float32", name=f"{name}_heatmaps",
        bias_initializer=keras.initializers.Constant(-2.0),
    )(x)
    if not num_edges:
        return logits, None, None
    offsets = []
    for axis in ("x", "y"):
        offsets.append(
            layers.Conv2D(
                num_edges, 1, dtype="float32", name=f"{name}_offsets_{axis}",
                kernel_initializer="zeros",
            )(x)
        )
    return logits, offsets[0], offsets[1]


def apply_variant(variant, logits, offsets_x, offsets_y, edges, scales_x, scales_y,
                  combine="noisy_or", kernel="bilinear", kernel_size=5, kernel_sigma=None,
                  implementation="auto", name="final"):
    """Turns head outputs into the `final` maps of a variant.

    Args:
        variant: one of `VARIANTS`.
        logits: `[B, H, W, J]` heatmap logits.
        offsets_x, offsets_y: `[B, H, W, E]` displacements in codec units
            (unused by `baseline`).
        edges: the E `(source, target)` voting edges.
        scales_x, scales_y: E factors from codec units to pixels.
        combine, kernel, kernel_size, kernel_sigma: voting options
            (`MassDisplacement`'s combine, kernel, kernel_size, sigma);
            `stn` uses only `combine` (its warp is bilinear).
        implementation: `MassDisplacement` implementation. Defaults to "auto".
        name: name of the output layer. Defaults to "final".

    Returns:
        `[B, H, W, J]` final maps.
    """
    probabilities = layers.Activation("sigmoid", dtype="float32", name=f"{name}_sigmoid")(
        logits
    )
    if variant == "baseline":
        return layers.Identity(name=name, dtype="float32")(probabilities)
    pixels_x = ScaleChannels(scales_x, dtype="float32", name=f"{name}_pixels_x")(offsets_x)
    pixels_y = ScaleChannels(scales_y, dtype="float32", name=f"{name}_pixels_y")(offsets_y)
    num_targets = 1 + max(target for _, target in edges)
    if variant == "stn":
        return BilinearWarp(
            combine=combine, edges=edges, num_targets=num_targets, dtype="float32", name=name,
        )(probabilities, pixels_x, pixels_y)
    if variant == "posthoc":
        probabilities = StopGradient(name=f"{name}_stop_heatmaps")(probabilities)
        pixels_x = StopGradient(name=f"{name}_stop_x")(pixels_x)
        pixels_y = StopGradient(name=f"{name}_stop_y")(pixels_y)
    return MassDisplacement(
        combine=combine, kernel=kernel, kernel_size=kernel_size, sigma=kernel_sigma, edges=edges,
        num_targets=num_targets, implementation=implementation, dtype="float32", name=name,
    )(probabilities, pixels_x, pixels_y)
