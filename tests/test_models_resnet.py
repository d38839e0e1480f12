"""The output-stride-16 ResNets keep the stock Keras layers and weights exactly."""

import keras
import numpy as np
import pytest

from mdn_tf.models import build_pose_model, build_resnet_os16


@pytest.fixture(scope="module")
def stock_and_os16_resnet50(tmp_path_factory):
    """A randomly initialised stock ResNet-50, saved, and its OS16 copy from the file."""
    keras.utils.set_random_seed(1)
    stock = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(256, 256, 3)
    )
    path = tmp_path_factory.mktemp("weights") / "resnet50_notop.weights.h5"
    stock.save_weights(path)
    return stock, build_resnet_os16(50, (256, 256, 3), weights=str(path))


def test_os16_resnet50_keeps_all_318_weight_arrays_with_their_names(stock_and_os16_resnet50):
    stock, os16 = stock_and_os16_resnet50
    assert len(stock.weights) == len(os16.weights) == 318
    assert [w.path for w in os16.weights] == [w.path for w in stock.weights]
    # The input layer is named after the stock model built inside
    # build_resnet_os16 (Keras numbers repeated default names); the rest match.
    assert [layer.name for layer in os16.layers[1:]] == [layer.name for layer in stock.layers[1:]]


def test_os16_resnet50_takes_a_local_weights_file_bit_exactly(stock_and_os16_resnet50):
    stock, os16 = stock_and_os16_resnet50
    for original, copied in zip(stock.weights, os16.weights):
        np.testing.assert_array_equal(copied.numpy(), original.numpy(), err_msg=original.path)


def test_os16_resnet50_gives_16x16_conv5_for_a_256_input(stock_and_os16_resnet50):
    stock, os16 = stock_and_os16_resnet50
    assert stock.output.shape[1:] == (8, 8, 2048)
    assert os16.output.shape[1:] == (16, 16, 2048)
    conv5 = os16.get_layer("conv5_block3_2_conv")
    assert conv5.dilation_rate == (2, 2)
    assert os16.get_layer("conv5_block1_1_conv").strides == (1, 1)
    assert os16.get_layer("conv4_block1_1_conv").strides == (2, 2)
    image = np.random.default_rng(0).normal(0, 50, (1, 256, 256, 3)).astype(np.float32)
    assert os16(image).shape == (1, 16, 16, 2048)


def test_os16_keeps_stage4_activations_of_the_stock_network(stock_and_os16_resnet50):
    # Only stage 5 changes, so everything up to conv4 must be the same function.
    stock, os16 = stock_and_os16_resnet50
    image = np.random.default_rng(1).normal(0, 50, (1, 256, 256, 3)).astype(np.float32)
    features = [
        keras.Model(m.inputs, m.get_layer("conv4_block6_out").output)(image) for m in (stock, os16)
    ]
    np.testing.assert_array_equal(features[0].numpy(), features[1].numpy())


@pytest.mark.parametrize("depth, num_weights", [(101, 624), (152, 930)])
def test_deeper_resnet_mdn_builds_with_all_backbone_weights(depth, num_weights):
    model = build_pose_model(f"resnet{depth}", "mdn", input_shape=(64, 64, 3))
    backbone = model.get_layer(f"resnet{depth}_os16")
    assert len(backbone.weights) == num_weights
    assert backbone.output.shape[1:] == (4, 4, 2048)
    outputs = model(np.zeros((1, 64, 64, 3), np.float32))
    assert outputs["final"].shape == (1, 16, 16, 16)
    assert outputs["offsets_x"].shape == (1, 16, 16, 31)


def test_pose_model_copies_backbone_weights_from_a_file(stock_and_os16_resnet50, tmp_path):
    stock, _ = stock_and_os16_resnet50
    path = tmp_path / "resnet50_notop.weights.h5"
    stock.save_weights(path)
    model = build_pose_model("resnet50", "baseline", input_shape=(256, 256, 3), weights=str(path))
    backbone = model.get_layer("resnet50_os16")
    for original, copied in zip(stock.weights, backbone.weights):
        np.testing.assert_array_equal(copied.numpy(), original.numpy())


def test_imagenet_weights_without_internet_raise_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)
    monkeypatch.setattr("keras.src.applications.resnet.file_utils.get_file", offline)
    with pytest.raises(RuntimeError, match="Could not fetch the ImageNet weights of ResNet-50"):
        build_resnet_os16(50, (64, 64, 3), weights="imagenet")


def test_bad_resnet_arguments_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="depth must be one of .* Received: depth=34"):
        build_resnet_os16(34)
    missing = str(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="Received: weights="):
        build_resnet_os16(50, (64, 64, 3), weights=missing)
    with pytest.raises(ValueError, match="divisible by 16. Received: input_shape=\\(72, 72, 3\\)"):
        build_pose_model("resnet50", input_shape=(72, 72, 3))
