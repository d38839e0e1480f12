"""Gradients of the compiled op (Mdn>MassDisplacementGrad), checked directly.

`tf.test.compute_gradient` in float64 for all three inputs and every combine
x kernel x edges case, plus the exact cases finite differences cannot see:
the clip of heatmaps outside [0, 1] and the adjoint identity of additive
bilinear voting. Certain noisy-OR votes are checked on both implementations
in tests/test_voting_gradients.py.
"""

import zlib

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.ops import custom_op
from mdn_tf.ops.voting_config import make_voting_config
from gradient_check import assert_gradient_matches_finite_differences
from reference_voting import bilinear_gather
from voting_cases import smooth_inputs

pytestmark = pytest.mark.skipif(
    not custom_op.is_available(),
    reason=f"compiled op unavailable: {custom_op.unavailable_reason()}",
)

# Edge 0 -> 1 and 0 -> 2 share source 0 (the summed heatmap gradient path).
EDGES = {"within": None, "shared_source": [(0, 0), (0, 1), (1, 1), (1, 0), (0, 2)]}


@pytest.mark.parametrize("wrt", [0, 1, 2], ids=["heatmaps", "offsets_x", "offsets_y"])
@pytest.mark.parametrize("edges_case", sorted(EDGES))
@pytest.mark.parametrize("kernel", ["bilinear", "gaussian"])
@pytest.mark.parametrize("combine", ["additive", "noisy_or", "max"])
def test_compiled_gradient_matches_finite_differences_in_float64(combine, kernel, edges_case, wrt):
    edges = EDGES[edges_case]
    num_edges = len(edges) if edges else None
    inputs = list(
        smooth_inputs(seed=zlib.crc32(f"{combine}{kernel}{edges_case}{wrt}".encode()),
                      batch=2, height=4, width=5, num_maps=2, num_edges=num_edges)
    )
    config = make_voting_config(combine=combine, kernel=kernel, kernel_size=3, edges=edges)

    def function(value):
        arguments = list(inputs)
        arguments[wrt] = value
        return custom_op.vote_custom_op(*arguments, config)

    assert_gradient_matches_finite_differences(function, inputs[wrt])


@pytest.mark.parametrize("combine,expected", [("noisy_or", 0.0), ("additive", 1.0)])
def test_heatmaps_outside_unit_interval_get_the_clip_gradient(combine, expected):
    # Noisy-OR clips c to [0, 1]: no gradient flows to c = 1.5 or c = -0.5.
    # Additive does not clip: the gradient is K = 1 (integer landing).
    heatmaps = np.array([1.5, -0.5, 1.0, 0.0]).reshape(1, 1, 4, 1)
    offsets = np.zeros((1, 1, 4, 1))
    heat = tf.constant(heatmaps)
    with tf.GradientTape() as tape:
        tape.watch(heat)
        maps = custom_op.vote_custom_op(heat, offsets, offsets,
                                        make_voting_config(combine=combine))
        loss = tf.reduce_sum(maps)
    grad = tape.gradient(loss, heat).numpy().ravel()
    np.testing.assert_array_equal(grad[:2], [expected, expected])
    # The clip's gradient passes at the bounds themselves (inclusive).
    np.testing.assert_array_equal(grad[2:], [1.0, 1.0])


def test_additive_bilinear_voting_is_the_adjoint_of_bilinear_gathering():
    rng = np.random.default_rng(4)
    heatmaps = rng.uniform(size=(2, 6, 7, 3))
    offsets_x = rng.normal(0, 2.0, size=heatmaps.shape)
    offsets_y = rng.normal(0, 2.0, size=heatmaps.shape)
    offsets_x[0, 0, 0, 0] = np.nan
    upstream = rng.normal(size=heatmaps.shape)
    config = make_voting_config(combine="additive", displacement_scale=1.5)
    heat = tf.constant(heatmaps)
    with tf.GradientTape() as tape:
        tape.watch(heat)
        maps = custom_op.vote_custom_op(heat, offsets_x, offsets_y, config)
    gathered = bilinear_gather(upstream, offsets_x, offsets_y, displacement_scale=1.5)
    # <vote(c), g> = <c, gather(g)>, and the heatmap gradient is gather(g).
    np.testing.assert_allclose(np.sum(maps.numpy() * upstream), np.sum(heatmaps * gathered),
                               rtol=1e-12)
    grad = tape.gradient(maps, heat, output_gradients=tf.constant(upstream)).numpy()
    np.testing.assert_allclose(grad, gathered, rtol=1e-12, atol=1e-12)
