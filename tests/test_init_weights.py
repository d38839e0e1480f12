"""--init-weights: one network starts from another's weights, matched by layer name."""

import numpy as np
import pytest

from mdn_tf.models import build_pose_model
from mdn_tf.training.init_weights import copy_weights_by_name, load_initial_weights


def test_a_baseline_and_an_mdn_start_from_a_post_hoc_network(tmp_path):
    posthoc = build_pose_model("small", "posthoc", edges="within_part", input_shape=(64, 64, 3))
    path = tmp_path / "posthoc.keras"
    posthoc.save(path)
    for variant in ("baseline", "mdn"):
        model = build_pose_model("small", variant, edges="within_part", input_shape=(64, 64, 3))
        copied = load_initial_weights(str(path), model)
        assert "head_heatmaps" in copied
        assert ("head_offsets_x" in copied) == (variant == "mdn")
        images = np.random.default_rng(0).uniform(size=(1, 64, 64, 3)).astype("float32")
        np.testing.assert_allclose(model(images)["heatmaps"], posthoc(images)["heatmaps"],
                                   atol=1e-6)


def test_layers_of_other_shapes_are_refused_with_their_name():
    narrow = build_pose_model("small", "mdn", edges="within_part", input_shape=(64, 64, 3),
                              small_filters=16)
    wide = build_pose_model("small", "mdn", edges="within_part", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="--init-weights: layer '.*' has weights of shapes"):
        copy_weights_by_name(narrow, wide)
