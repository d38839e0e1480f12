"""Analytic gradients of the voting op agree with finite differences."""

import zlib

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf import mass_displacement
from gradient_check import assert_gradient_matches_finite_differences
from voting_cases import CROSS_PART_EDGES, smooth_inputs

CASES = [
    ("additive", "bilinear", None),
    ("noisy_or", "bilinear", None),
    ("max", "bilinear", None),
    ("additive", "gaussian", None),
    ("noisy_or", "gaussian", None),
    ("max", "gaussian", None),
    ("noisy_or", "bilinear", CROSS_PART_EDGES[:5]),
    ("additive", "gaussian", CROSS_PART_EDGES[:5]),
]


@pytest.mark.parametrize("combine,kernel,edges", CASES)
@pytest.mark.parametrize("wrt", ["heatmaps", "offsets_x", "offsets_y"])
def test_gradient_matches_finite_differences(implementation, combine, kernel, edges, wrt):
    num_maps = 3 if edges else 2
    num_edges = len(edges) if edges else None
    inputs = dict(
        zip(
            ("heatmaps", "offsets_x", "offsets_y"),
            smooth_inputs(seed=zlib.crc32(f"{combine}{kernel}{wrt}".encode()), num_maps=num_maps,
                          num_edges=num_edges),
        )
    )
    # displacement_scale 2 with halved offsets keeps the landing points of
    # smooth_inputs, so the inputs stay away from kinks.
    inputs["offsets_x"] /= 2.0
    inputs["offsets_y"] /= 2.0

    def function(value):
        arguments = {**inputs, wrt: value}
        return mass_displacement(
            combine=combine, kernel=kernel, kernel_size=3, edges=edges,
            displacement_scale=2.0, implementation=implementation, **arguments,
        )

    assert_gradient_matches_finite_differences(function, inputs[wrt])


def _certain_vote_case():
    """Two votes land on pixel (2, 2): a certain one (c = 1, integer landing)
    from (0, 0) and one with c = 0.5 from (1, 1); m = 1 - 0 * 0.5 = 1."""
    heatmaps = np.zeros((1, 4, 4, 1))
    heatmaps[0, 0, 0, 0] = 1.0
    heatmaps[0, 1, 1, 0] = 0.5
    offsets = np.zeros((1, 4, 4, 1))
    offsets[0, 0, 0, 0] = 2.0
    offsets[0, 1, 1, 0] = 1.0
    return heatmaps, offsets


def test_noisy_or_gradient_is_exact_where_a_vote_is_certain(implementation):
    heatmaps, offsets = _certain_vote_case()
    heatmaps_t = tf.constant(heatmaps)
    offsets_x, offsets_y = tf.constant(offsets), tf.constant(offsets)
    with tf.GradientTape() as tape:
        tape.watch([heatmaps_t, offsets_x, offsets_y])
        maps = mass_displacement(heatmaps_t, offsets_x, offsets_y, implementation=implementation)
        value = maps[0, 2, 2, 0]
    grad_c, grad_x, grad_y = tape.gradient(value, [heatmaps_t, offsets_x, offsets_y])
    assert value.numpy() == 1.0
    for grad in (grad_c, grad_x, grad_y):
        assert np.all(np.isfinite(grad.numpy()))
    # dm/dc_i = K_i * prod_{j != i} (1 - K_j c_j): the certain vote sees the
    # other factor 0.5, the uncertain one sees the certain factor 0 (exactly:
    # finite differences cannot see this case).
    assert grad_c.numpy()[0, 0, 0, 0] == 0.5
    assert grad_c.numpy()[0, 1, 1, 0] == 0.0
    # Moving the certain vote right by dx lowers its weight on (2, 2) by dx
    # (one-sided derivative at the integer landing): dm/dox = -c * 0.5.
    assert grad_x.numpy()[0, 0, 0, 0] == pytest.approx(-0.5)
    assert grad_y.numpy()[0, 0, 0, 0] == pytest.approx(-0.5)


def test_noisy_or_gradient_with_two_certain_votes_is_zero_not_nan(implementation):
    heatmaps, offsets = _certain_vote_case()
    heatmaps[0, 1, 1, 0] = 1.0  # now both factors are zero
    heatmaps_t = tf.constant(heatmaps)
    with tf.GradientTape() as tape:
        tape.watch(heatmaps_t)
        value = mass_displacement(heatmaps_t, offsets, offsets, implementation=implementation)[
            0, 2, 2, 0
        ]
    grad = tape.gradient(value, heatmaps_t).numpy()
    np.testing.assert_array_equal(grad, np.zeros_like(grad))


def test_max_sends_the_gradient_to_the_winning_vote(implementation):
    heatmaps = np.zeros((1, 3, 3, 1))
    heatmaps[0, 0, 0, 0] = 0.9
    heatmaps[0, 0, 2, 0] = 0.4
    offsets_x = np.zeros((1, 3, 3, 1))
    offsets_x[0, 0, 0, 0], offsets_x[0, 0, 2, 0] = 1.0, -1.0  # both land on (1, 0)
    heatmaps_t = tf.constant(heatmaps)
    with tf.GradientTape() as tape:
        tape.watch(heatmaps_t)
        value = mass_displacement(
            heatmaps_t, offsets_x, np.zeros_like(offsets_x), combine="max",
            implementation=implementation,
        )[0, 0, 1, 0]
    grad = tape.gradient(value, heatmaps_t).numpy()
    assert value.numpy() == pytest.approx(0.9)
    expected = np.zeros_like(grad)
    expected[0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(grad, expected)


def test_non_finite_votes_get_zero_gradient(implementation):
    heatmaps, offsets_x, offsets_y = smooth_inputs(seed=4)
    offsets_x[0, 1, 1, 0] = np.nan
    offsets_y[0, 2, 2, 1] = np.inf
    inputs = [tf.constant(x) for x in (heatmaps, offsets_x, offsets_y)]
    for combine in ("additive", "noisy_or", "max"):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(
                mass_displacement(*inputs, combine=combine, implementation=implementation)
            )
        grads = [g.numpy() for g in tape.gradient(total, inputs)]
        for grad in grads:
            assert np.all(np.isfinite(grad)), combine
        assert grads[0][0, 1, 1, 0] == 0 and grads[1][0, 1, 1, 0] == 0
        assert grads[0][0, 2, 2, 1] == 0 and grads[2][0, 2, 2, 1] == 0
