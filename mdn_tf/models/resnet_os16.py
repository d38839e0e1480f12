"""ResNet-50/101/152 from `keras.applications` at output stride 16.

The paper's ResNet MDNs (Neverova & Kokkinos, BMVC 2018, Sec. 4) drop the
stride of the last stage and dilate its 3x3 convolutions by 2, so conv5 keeps
the conv4 resolution (16x16 for a 256x256 input) with the same receptive
field. The network is rebuilt from the stock Keras model with
`keras.models.clone_model`, changing only the strides of
`conv5_block1_0_conv` / `conv5_block1_1_conv` and the dilation of every
`conv5_block*_2_conv`; strides and dilations own no weights, so all weight
arrays (318 for ResNet-50), their names and their values carry over unchanged
and ImageNet weights load exactly as they do into the stock model.

The backbone expects `keras.applications.resnet.preprocess_input` ("caffe")
images: BGR, 0-255, ImageNet means subtracted (see `CaffePreprocess`).
"""

import os

import keras

_CONSTRUCTORS = {
    50: keras.applications.ResNet50,
    101: keras.applications.ResNet101,
    152: keras.applications.ResNet152,
}
RESNET_DEPTHS = tuple(_CONSTRUCTORS)
# The stage-5 layers whose stride is dropped (block 1's shortcut and first conv).
_STRIDED = ("conv5_block1_0_conv", "conv5_block1_1_conv")


def _os16_clone_function(layer):
    """Recreates `layer`, with stride 1 / dilation 2 where stage 5 needs it."""
    config = layer.get_config()
    if layer.name in _STRIDED:
        config["strides"] = (1, 1)
    if layer.name.startswith("conv5_block") and layer.name.endswith("_2_conv"):
        config["dilation_rate"] = (2, 2)
    return layer.__class__.from_config(config)


def _stock_resnet(depth, input_shape, weights):
    constructor = _CONSTRUCTORS[depth]
    try:
        return constructor(include_top=False, weights=weights, input_shape=input_shape)
    except Exception as error:  # The download error type depends on the transport.
        if weights != "imagenet":
            raise
        raise RuntimeError(
            f"Could not fetch the ImageNet weights of ResNet-{depth} through Keras "
            f"({type(error).__name__}: {error}). Without internet access, download "
            f"resnet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and "
            "pass its path as weights=PATH (or place it in ~/.keras/models/)."
        ) from error


def build_resnet_os16(depth=50, input_shape=(256, 256, 3), weights=None, name=None):
    """Returns a ResNet backbone with output stride 16 (dilated conv5).

    Args:
        depth: 50, 101 or 152. Defaults to 50.
        input_shape: `(H, W, 3)`; H and W multiples of 16 give exact
            `H/16 x W/16` features. Defaults to `(256, 256, 3)`.
        weights: None (random initialisation), "imagenet" (fetched by Keras,
            needs internet or a cached file in `~/.keras/models/`), or the path
            of a weights file of the stock `include_top=False` Keras ResNet
            (e.g. `resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`).
            Defaults to None.
        name: model name. Defaults to `f"resnet{depth}_os16"`.

    Returns:
        A functional `keras.Model` mapping caffe-preprocessed images
        `[B, H, W, 3]` to conv5 features `[B, H/16, W/16, 2048]`. Layer and
        weight names are those of the stock Keras model.

    Raises:
        ValueError: for an unknown `depth` or a weights path that does not exist.
        RuntimeError: when "imagenet" weights cannot be fetched.

    Example:

        backbone = build_resnet_os16(50, input_shape=(256, 256, 3))
        backbone.output.shape   # (None, 16, 16, 2048)
    """
    if depth not in _CONSTRUCTORS:
        raise ValueError(f"depth must be one of {RESNET_DEPTHS}. Received: depth={depth!r}")
    if weights not in (None, "imagenet") and not (
        isinstance(weights, (str, os.PathLike)) and os.path.exists(weights)
    ):
        raise ValueError(
            'weights must be None, "imagenet" or the path of an existing weights '
            f"file. Received: weights={weights!r}"
        )
    stock = _stock_resnet(depth, tuple(input_shape), weights)
    # Naming the new input after the stock one keeps every layer name identical.
    inputs = keras.Input(shape=tuple(input_shape), name=stock.layers[0].name)
    model = keras.models.clone_model(
        stock, input_tensors=inputs, clone_function=_os16_clone_function
    )
    model.set_weights(stock.get_weights())
    model.name = name or f"resnet{depth}_os16"
    return model
