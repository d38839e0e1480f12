"""Every backbone x variant builds with the documented outputs; heads, warp, save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.data.targets import MDNCodec
from mdn_tf.models import (
    BilinearWarp,
    build_pose_model,
    displacement_scales,
    resolve_edges,
)

TINY_HOURGLASS = dict(num_stacks=3, hourglass_filters=16, hourglass_depth=2)
BACKBONE_OPTIONS = {
    "small": dict(small_filters=8),
    "hourglass": TINY_HOURGLASS,
    "resnet50": {},
}


def _images(batch=2, height=64, width=64, seed=0):
    return np.random.default_rng(seed).random((batch, height, width, 3)).astype(np.float32)


@pytest.mark.parametrize("variant", ["baseline", "posthoc", "stn", "mdn"])
@pytest.mark.parametrize("backbone", ["small", "hourglass", "resnet50"])
def test_every_backbone_and_variant_gives_the_documented_outputs(backbone, variant):
    model = build_pose_model(
        backbone, variant, input_shape=(64, 64, 3), **BACKBONE_OPTIONS[backbone]
    )
    outputs = model(_images())
    expected = {"final": (2, 16, 16, 16), "heatmaps": (2, 16, 16, 16)}
    if variant != "baseline":
        expected.update(offsets_x=(2, 16, 16, 31), offsets_y=(2, 16, 16, 31))
    if backbone == "hourglass":
        expected.update(stack_1_heatmaps=(2, 16, 16, 16), stack_2_heatmaps=(2, 16, 16, 16))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == expected
    assert sorted(model.output_names) == sorted(expected)
    assert all(v.dtype == tf.float32 for v in outputs.values())
    final = outputs["final"].numpy()  # noisy-OR (the default) gives probabilities
    assert final.min() >= 0.0 and final.max() <= 1.0


def test_hourglass_sums_the_displacements_of_all_stacks():
    model = build_pose_model("hourglass", "mdn", input_shape=(64, 64, 3), **TINY_HOURGLASS)
    summed = model.get_layer("offsets_x_sum")
    assert [t._keras_history.operation.name for t in summed.input] == [
        "stack_1_head_offsets_x", "stack_2_head_offsets_x", "stack_3_head_offsets_x",
    ]


def test_baseline_final_is_the_sigmoid_of_the_heatmaps():
    model = build_pose_model("small", "baseline", input_shape=(64, 64, 3), small_filters=8)
    outputs = model(_images())
    np.testing.assert_allclose(
        outputs["final"].numpy(), tf.sigmoid(outputs["heatmaps"]).numpy(), rtol=1e-6
    )


@pytest.mark.parametrize("skeleton, input_shape", [("mpii", (64, 64, 3)), ("coco", (64, 48, 3))])
@pytest.mark.parametrize("mode", ["within_part", "cross_part"])
def test_displacement_units_match_the_data_codec(skeleton, input_shape, mode):
    map_size = (input_shape[0] // 4, input_shape[1] // 4)
    codec = MDNCodec(skeleton, map_size=map_size, mode=mode)
    edges = resolve_edges(mode, codec.num_joints, skeleton)
    assert edges == codec.edges
    scales_x, scales_y = displacement_scales(edges, *map_size, epsilon_c=codec.heatmap_radius)
    np.testing.assert_array_equal(scales_x, codec.edge_normalisers())
    np.testing.assert_array_equal(scales_y, codec.edge_normalisers())


def test_mdn_with_codec_displacements_votes_onto_the_joints():
    # Heads replaced by the codec's own targets: the model's scaling and the
    # layer's convention must put the votes on the keypoints.
    from mdn_tf.models.heads import apply_variant

    codec = MDNCodec("mpii", map_size=(16, 16), mode="cross_part")
    keypoints = np.random.default_rng(3).uniform(3, 12, (16, 2)).astype(np.float32)
    targets = codec.encode(keypoints, np.ones(16, np.float32))
    logits = keras.Input((16, 16, 16))
    ox, oy = keras.Input((16, 16, 31)), keras.Input((16, 16, 31))
    scales = displacement_scales(codec.edges, 16, 16)
    final = apply_variant("mdn", logits, ox, oy, codec.edges, *scales, combine="additive")
    voter = keras.Model([logits, ox, oy], final)
    disk_logits = tf.where(targets["heatmaps"] > 0, 30.0, -30.0)[None]
    voted = voter([disk_logits, targets["offsets_x"][None], targets["offsets_y"][None]])
    decoded, _ = codec.decode(voted.numpy()[0])
    np.testing.assert_allclose(decoded, keypoints, atol=0.5)


def test_edges_can_be_within_part_or_an_explicit_list():
    within = build_pose_model(
        "small", "mdn", input_shape=(64, 64, 3), edges="within_part", small_filters=8
    )
    assert within.output_shape[within.output_names.index("offsets_x")] == (None, 16, 16, 16)
    custom = build_pose_model(
        "small", "stn", num_joints=3, edges=[(0, 0), (1, 1), (2, 2), (0, 1), (1, 2)],
        input_shape=(32, 32, 3), small_filters=8,
    )
    outputs = custom(_images(1, 32, 32))
    assert outputs["final"].shape == (1, 8, 8, 3) and outputs["offsets_y"].shape == (1, 8, 8, 5)


def test_coco_models_get_the_coco_tree_and_non_square_maps():
    model = build_pose_model(
        "small", "mdn", num_joints=17, input_shape=(64, 48, 3), small_filters=8
    )
    outputs = model(_images(1, 64, 48))
    assert outputs["final"].shape == (1, 16, 12, 17)
    assert outputs["offsets_x"].shape == (1, 16, 12, 33)


def test_stn_warp_with_zero_field_is_identity_and_has_offset_gradients():
    maps = tf.constant(np.random.default_rng(5).random((1, 5, 5, 2)), tf.float32)
    offsets = tf.zeros((1, 5, 5, 2)) + 0.3
    warp = BilinearWarp(combine="additive")
    np.testing.assert_allclose(warp(maps, 0 * offsets, 0 * offsets).numpy(), maps.numpy())
    with tf.GradientTape() as tape:
        tape.watch(offsets)
        value = tf.reduce_sum(warp(maps, offsets, offsets) * tf.reshape(tf.range(25.0), [1, 5, 5, 1]))
    assert np.abs(tape.gradient(value, offsets).numpy()).sum() > 0


@pytest.mark.parametrize("variant, flows", [("posthoc", False), ("mdn", True), ("stn", True)])
def test_only_end_to_end_variants_pass_final_gradients_to_the_heads(variant, flows):
    model = build_pose_model(variant=variant, backbone="small", input_shape=(32, 32, 3),
                             small_filters=8)
    # Non-zero offsets, so the displacement heads influence the final maps.
    for axis in ("x", "y"):
        kernel = model.get_layer(f"head_offsets_{axis}").kernel
        kernel.assign(np.full(kernel.shape, 0.01, np.float32))
    heads = [model.get_layer(n).kernel for n in ("head_heatmaps", "head_offsets_x")]
    with tf.GradientTape() as tape:
        final = model(_images(1, 32, 32), training=False)["final"]
        value = tf.reduce_sum(final * tf.random.stateless_uniform(final.shape, (1, 2)))
    grads = tape.gradient(value, heads)
    for grad in grads:
        assert (grad is not None and np.abs(grad.numpy()).sum() > 0) == flows


@pytest.mark.parametrize(
    "backbone, combine", [("small", "noisy_or"), ("hourglass", "additive"), ("resnet50", "max")]
)
def test_keras_file_round_trip_gives_identical_outputs(backbone, combine, tmp_path):
    model = build_pose_model(
        backbone, "mdn", combine=combine, kernel="gaussian", input_shape=(64, 64, 3),
        **BACKBONE_OPTIONS[backbone],
    )
    # Random non-zero offsets, so the voting really moves mass.
    for layer in model.layers:
        if "offsets" in layer.name and hasattr(layer, "kernel"):
            layer.kernel.assign(np.random.default_rng(6).normal(0, 0.05, layer.kernel.shape))
    path = tmp_path / "mdn.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    images = _images(seed=7)
    before, after = model(images), restored(images)
    assert sorted(before) == sorted(after)
    for key in before:
        np.testing.assert_array_equal(before[key].numpy(), after[key].numpy(), err_msg=key)


def test_bad_model_arguments_name_the_argument_and_value():
    cases = [
        (dict(backbone="vgg"), "backbone must be one of .* Received: backbone='vgg'"),
        (dict(variant="cpm"), "variant must be one of .* Received: variant='cpm'"),
        (dict(combine="sum"), "combine must be one of .* Received: combine='sum'"),
        (dict(kernel="box"), "kernel must be one of .* Received: kernel='box'"),
        (dict(kernel_size=4), "kernel_size must be a positive odd integer. Received: kernel_size=4"),
        (dict(num_joints=0), "num_joints must be a positive integer. Received: num_joints=0"),
        (dict(edges="all"), "Received: edges='all'"),
        (dict(edges=[(0, 99)]), "Received: edges=\\[\\(0, 99\\)\\]"),
        (dict(input_shape=(64, 64)), "Received: input_shape=\\(64, 64\\)"),
        (dict(backbone="small", weights="imagenet"), "Received: weights='imagenet'"),
        (dict(backbone="hourglass", input_shape=(48, 48, 3)),
         "divisible by 64. Received: input_shape=\\(48, 48, 3\\)"),
        (dict(backbone="small", num_joints=5, edges="cross_part"),
         "needs a skeleton .* Received: num_joints=5"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            build_pose_model(**kwargs)
