"""A few optimiser steps on the built-in sample reduce the MDN loss with every combine rule."""

import keras
import numpy as np
import pytest

from mdn_tf.data.targets import MDNCodec
from mdn_tf.losses import build_losses, pack_targets
from mdn_tf.models import build_pose_model


def _sample_batch(combine, batch=4, size=32):
    """One batch of the built-in sample (MPII layout) with the codec's targets."""
    from mdn_tf.data import build_dataset, mpii, sample_data

    records = mpii.load_annotations(sample_data.sample_data().mpii_train)[:batch]
    codec = MDNCodec(
        "mpii", map_size=(size // 4, size // 4), mode="cross_part", heatmap_radius=1.5,
        final_target="gaussian" if combine == "additive" else "disk",
    )
    dataset = build_dataset(records, "mpii", batch_size=batch, input_size=(size, size),
                            codec=codec)
    images, targets = next(iter(dataset))
    return images.numpy(), targets, codec


@pytest.mark.parametrize("combine", ["noisy_or", "additive", "max"])
def test_a_few_training_steps_reduce_the_mdn_loss(combine):
    keras.utils.set_random_seed(0)
    images, targets, codec = _sample_batch(combine)
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
