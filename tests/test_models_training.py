"""A few optimiser steps reduce the MDN loss with every combine rule."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.data.targets import MDNCodec
from mdn_tf.losses import build_losses, pack_targets
from mdn_tf.models import build_pose_model


def _synthetic_batch(combine, batch=4, size=32, seed=0):
    """Images with a bright blob on each joint, and the codec's targets."""
    rng = np.random.default_rng(seed)
    codec = MDNCodec(
        "mpii", map_size=(size // 4, size // 4), mode="cross_part",
        heatmap_radius=1.5, final_target="gaussian" if combine == "additive" else "disk",
    )
    images = rng.random((batch, size, size, 3)).astype(np.float32) * 0.2
    targets = []
    for b in range(batch):
        keypoints = rng.uniform(1, size // 4 - 2, (16, 2)).astype(np.float32)
        for x, y in keypoints * 4 + 1.5:
            images[b, int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] = 1.0
        targets.append(codec.encode(keypoints, np.ones(16, np.float32)))
    stacked = {k: tf.stack([t[k] for t in targets]) for k in targets[0]}
    return images, stacked, codec


@pytest.mark.parametrize("combine", ["noisy_or", "additive", "max"])
def test_a_few_training_steps_reduce_the_mdn_loss(combine):
    keras.utils.set_random_seed(0)
    images, targets, codec = _synthetic_batch(combine)
    model = build_pose_model(
        "small", "mdn", combine=combine, input_shape=images.shape[1:], small_filters=8,
        epsilon_c=codec.heatmap_radius,
    )
    losses, weights = build_losses(model.output_names, "mdn", combine)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=losses, loss_weights=weights)
    y = pack_targets(targets, model.output_names)
    # Training-mode losses from the history: BatchNorm's moving statistics
    # barely move in 15 steps, so inference-mode losses would not show it.
    history = model.fit(images, y, batch_size=4, epochs=15, verbose=0, shuffle=False).history
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < 0.7 * history["loss"][0], history
    # The voted maps themselves improve, not only the heatmaps.
    assert history["final_loss"][-1] < 0.7 * history["final_loss"][0], history
