"""MassDisplacement as a Keras 3 layer: models, saving, XLA, mixed precision."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from mdn_tf import MassDisplacement, mass_displacement
from voting_cases import CROSS_PART_EDGES, random_inputs


def _voting_model(num_maps=3, num_edges=None, **layer_arguments):
    """A tiny functional MDN head with unknown batch and map size."""
    num_edges = num_maps if num_edges is None else num_edges
    image = keras.Input((None, None, 4), name="image")
    heatmaps = keras.layers.Conv2D(num_maps, 3, padding="same", activation="sigmoid",
                                   name="heatmaps")(image)
    offsets_x = keras.layers.Conv2D(num_edges, 3, padding="same", name="offsets_x")(image)
    offsets_y = keras.layers.Conv2D(num_edges, 3, padding="same", name="offsets_y")(image)
    voted = MassDisplacement(name="voting", **layer_arguments)(heatmaps, offsets_x, offsets_y)
    return keras.Model(image, voted)


def _images(seed=0, shape=(2, 9, 11, 4)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer_equals_function(implementation):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=1, num_edges=len(CROSS_PART_EDGES))
    arguments = dict(combine="max", kernel="gaussian", kernel_size=5, sigma=0.9,
                     edges=CROSS_PART_EDGES, displacement_scale=1.5)
    layer = MassDisplacement(implementation=implementation, **arguments)
    np.testing.assert_array_equal(
        layer(heatmaps, offsets_x, offsets_y).numpy(),
        mass_displacement(heatmaps, offsets_x, offsets_y, implementation=implementation,
                          **arguments).numpy(),
    )


def test_functional_model_with_unknown_batch_and_map_size():
    model = _voting_model(edges=CROSS_PART_EDGES, num_edges=len(CROSS_PART_EDGES))
    assert model.output.shape == (None, None, None, 4)
    for shape in [(1, 5, 6, 4), (3, 8, 4, 4)]:
        assert model(_images(shape=shape)).shape == shape[:3] + (4,)


def test_tf_function_with_unknown_dimensions_checks_shapes_at_run_time():
    spec = tf.TensorSpec([None, None, None, 2], tf.float32)

    @tf.function(input_signature=[spec, spec, spec])
    def run(heatmaps, offsets_x, offsets_y):
        return mass_displacement(heatmaps, offsets_x, offsets_y, combine="additive")

    ones = tf.ones([2, 5, 5, 2])
    assert run(ones, ones * 0.3, ones * 0.1).shape == (2, 5, 5, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must share B, H, W"):
        run(ones, tf.ones([2, 5, 4, 2]), ones)


def test_compute_output_shape():
    layer = MassDisplacement(edges=[(0, 5), (1, 2)])
    assert layer.compute_output_shape((None, 64, 64, 2), (None, 64, 64, 2), (None, 64, 64, 2)) == (
        None, 64, 64, 6)
    within = MassDisplacement(num_targets=20)
    assert within.compute_output_shape((4, 8, 8, 16), (4, 8, 8, 16), (4, 8, 8, 16)) == (4, 8, 8, 20)


def test_config_round_trip_rebuilds_an_equal_layer():
    layer = MassDisplacement(combine="additive", kernel="gaussian", kernel_size=7, sigma=2.0,
                             edges=[(0, 1), (1, 0)], num_targets=3, displacement_scale=4.0,
                             implementation="tf", name="vote")
    config = layer.get_config()
    clone = MassDisplacement.from_config(config)
    assert clone.get_config() == config
    assert config["edges"] == [[0, 1], [1, 0]]
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "mdn_tf>MassDisplacement"
    assert keras.saving.deserialize_keras_object(serialized).get_config() == config


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    model = _voting_model(combine="noisy_or", kernel="gaussian", kernel_size=3,
                          edges=CROSS_PART_EDGES, num_edges=len(CROSS_PART_EDGES),
                          displacement_scale=2.0)
    path = tmp_path / "mdn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = _images(seed=3)
    np.testing.assert_array_equal(model(images).numpy(), loaded(images).numpy())
    assert isinstance(loaded.get_layer("voting"), MassDisplacement)


@pytest.mark.parametrize("combine", ["additive", "noisy_or", "max"])
def test_xla_function_matches_eager(combine):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=8)
    eager = mass_displacement(heatmaps, offsets_x, offsets_y, combine=combine, kernel="gaussian",
                              kernel_size=3)
    compiled = tf.function(
        lambda c, x, y: mass_displacement(c, x, y, combine=combine, kernel="gaussian",
                                          kernel_size=3),
        jit_compile=True,
    )
    np.testing.assert_allclose(compiled(heatmaps, offsets_x, offsets_y).numpy(), eager.numpy(),
                               atol=1e-6)


def test_xla_gradients_match_eager():
    heatmaps, offsets_x, offsets_y = random_inputs(seed=9)
    inputs = [tf.constant(x) for x in (heatmaps, offsets_x, offsets_y)]

    def gradients(c, x, y):
        with tf.GradientTape() as tape:
            tape.watch([c, x, y])
            loss = tf.reduce_sum(mass_displacement(c, x, y) ** 2)
        return tape.gradient(loss, [c, x, y])

    eager = gradients(*inputs)
    compiled = tf.function(gradients, jit_compile=True)(*inputs)
    for a, b in zip(compiled, eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_model_fit_with_jit_compile_reduces_the_loss():
    keras.utils.set_random_seed(0)
    model = _voting_model(combine="noisy_or")
    images = _images(seed=4, shape=(4, 8, 8, 4))
    targets = (np.random.default_rng(5).uniform(size=(4, 8, 8, 3)) > 0.8).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  jit_compile=True)
    history = model.fit(images, targets, epochs=8, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_mixed_precision_policy_returns_float16_close_to_float32():
    images = _images(seed=6)
    reference = _voting_model(combine="additive")
    weights = reference.get_weights()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = _voting_model(combine="additive")
        mixed.set_weights(weights)
        output = mixed(images)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.get_layer("voting").compute_dtype == "float16"
    assert output.dtype == "float16"
    np.testing.assert_allclose(tf.cast(output, "float32").numpy(), reference(images).numpy(),
                               atol=2e-2)


ERRORS = [
    (dict(combine="sum"), r"combine must be one of .* Received: combine='sum'"),
    (dict(kernel="box"), r"kernel must be one of .* Received: kernel='box'"),
    (dict(kernel_size=4), r"kernel_size must be a positive odd integer. Received: kernel_size=4"),
    (dict(kernel_size=0), r"kernel_size must be a positive odd integer. Received: kernel_size=0"),
    (dict(kernel_size=2.5), r"kernel_size must be an integer. Received: kernel_size=2.5"),
    (dict(sigma=-1.0), r"sigma must be a positive number or None. Received: sigma=-1.0"),
    (dict(sigma=0), r"sigma must be a positive number or None. Received: sigma=0"),
    (dict(edges=[(0, 1, 2)]), r"edges must be \(source_map, target_map\) pairs .* Received"),
    (dict(edges=[(0, -1)]), r"non-negative integers. Received: edges=\[\(0, -1\)\]"),
    (dict(edges=[(0, 3)], num_targets=2), r"target map 3, which is out of range for num_targets=2"),
    (dict(edges=[]), r"edges is empty, so num_targets must be given"),
    (dict(num_targets=0), r"num_targets must be a positive integer or None. Received: num_targets=0"),
    (dict(displacement_scale=float("nan")), r"displacement_scale must be a finite number"),
    (dict(implementation="cuda"), r"implementation must be one of .* Received: implementation='cuda'"),
]


@pytest.mark.parametrize("arguments,message", ERRORS)
def test_bad_arguments_raise_value_error_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        MassDisplacement(**arguments)
    with pytest.raises(ValueError, match=message):
        ones = np.ones((1, 4, 4, 2), "float32")
        mass_displacement(ones, ones, ones, **arguments)


SHAPE_ERRORS = [
    ({}, (1, 4, 4), (1, 4, 4, 2), (1, 4, 4, 2),
     r"heatmaps must be a rank-4 tensor \[B, H, W, J\]. Received: heatmaps.shape=\(1, 4, 4\)"),
    ({}, (1, 4, 4, 2), (1, 4, 4, 2, 1), (1, 4, 4, 2),
     r"offsets_x must be a rank-4 tensor \[B, H, W, E\]"),
    ({}, (1, 4, 4, 2), (1, 4, 4, 3), (1, 4, 4, 3),
     r"offsets_x must have one channel per voting edge: E = J = 2 .* Received: offsets_x.shape=\(1, 4, 4, 3\)"),
    (dict(edges=[(0, 0), (1, 0), (1, 1)]), (1, 4, 4, 2), (1, 4, 4, 3), (1, 4, 4, 2),
     r"offsets_y must have one channel per voting edge: E = len\(edges\) = 3"),
    (dict(edges=[(2, 0)]), (1, 4, 4, 2), (1, 4, 4, 1), (1, 4, 4, 1),
     r"edges refer to source map 2, but heatmaps have only J=2 channels"),
    ({}, (1, 4, 4, 2), (1, 4, 5, 2), (1, 4, 4, 2), r"must share W \(axis 2\)"),
    ({}, (2, 4, 4, 2), (1, 4, 4, 2), (1, 4, 4, 2), r"must share B \(axis 0\)"),
    (dict(num_targets=1), (1, 4, 4, 2), (1, 4, 4, 2), (1, 4, 4, 2),
     r"num_targets must be at least the number of heatmap channels J"),
]


@pytest.mark.parametrize("arguments,shape_c,shape_x,shape_y,message", SHAPE_ERRORS)
def test_bad_shapes_fail_when_the_model_is_built(arguments, shape_c, shape_x, shape_y, message):
    inputs = [keras.Input(batch_shape=shape) for shape in (shape_c, shape_x, shape_y)]
    with pytest.raises(ValueError, match=message):
        MassDisplacement(**arguments)(*inputs)
    with pytest.raises(ValueError, match=message):
        mass_displacement(*[np.zeros(s, "float32") for s in (shape_c, shape_x, shape_y)],
                          **arguments)


def test_integer_inputs_raise_type_error():
    with pytest.raises(TypeError, match=r"heatmaps must be float16, bfloat16, float32 or float64. "
                                        r"Received: heatmaps.dtype=int32"):
        mass_displacement(np.ones((1, 2, 2, 1), "int32"), np.ones((1, 2, 2, 1), "float32"),
                          np.ones((1, 2, 2, 1), "float32"))


def test_custom_op_request_fails_clearly_when_unavailable(monkeypatch):
    from mdn_tf.ops import custom_op

    monkeypatch.setattr(custom_op, "is_available", lambda: False)
    ones = np.ones((1, 3, 3, 1), "float32")
    with pytest.raises(RuntimeError, match='implementation="custom_op" was requested'):
        mass_displacement(ones, ones, ones, implementation="custom_op")
    # "auto" quietly takes the pure-TensorFlow path.
    assert mass_displacement(ones, ones, ones).shape == (1, 3, 3, 1)


def test_docstring_example_runs():
    import doctest

    import mdn_tf.layers.mass_displacement as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_auto_prefers_pure_tf_on_gpu_machines_without_cuda_kernels(monkeypatch):
    from mdn_tf.ops import custom_op
    import mdn_tf.ops.mass_displacement as dispatch

    monkeypatch.setattr(custom_op, "is_available", lambda: True)
    monkeypatch.setattr(custom_op, "in_xla_context", lambda: False)
    monkeypatch.setattr(custom_op, "has_cuda_kernels", lambda: False)
    monkeypatch.setattr(dispatch, "_gpu_present", lambda: True)
    assert dispatch._select_implementation("auto") is dispatch.vote_tf
    monkeypatch.setattr(dispatch, "_gpu_present", lambda: False)
    assert dispatch._select_implementation("auto") is custom_op.vote_custom_op
    monkeypatch.setattr(custom_op, "has_cuda_kernels", lambda: True)
    monkeypatch.setattr(dispatch, "_gpu_present", lambda: True)
    assert dispatch._select_implementation("auto") is custom_op.vote_custom_op
