"""The benchmarks' shared NumPy inputs agree with the library they measure."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))

import vote_inputs  # noqa: E402


def test_the_benchmark_vicinity_is_the_training_targets_one():
    from mdn_tf.data.targets import HEATMAP_RADIUS

    assert vote_inputs.HEATMAP_RADIUS == HEATMAP_RADIUS


def test_converged_votes_land_on_their_target_joint():
    import numpy as np

    from mdn_tf.ops.voting_config import make_voting_config

    config = make_voting_config(combine="additive").for_channels(vote_inputs.J)
    (heatmaps, offsets_x, offsets_y), _ = vote_inputs.make_inputs(
        2, len(config.sources), votes="converged", config=config)
    assert heatmaps.shape == (2, vote_inputs.H, vote_inputs.W, vote_inputs.J)
    assert heatmaps.max() > 0.99 and heatmaps.min() < 1e-3  # confident peaks, background
    assert offsets_x.dtype == np.float32 and offsets_y.shape == offsets_x.shape
