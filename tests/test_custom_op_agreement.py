"""The compiled op agrees with the pure-TensorFlow path and with itself.

Every combine x kernel x edges case on random inputs that include off-map,
integer, NaN, +-inf and 1e30 landings: forward to 1e-5 in float32, gradients
of all three inputs to float64 round-off, half types within their precision,
and bit-identical results across runs.
"""

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf import mass_displacement
from mdn_tf.ops import custom_op
from mdn_tf.ops.voting_config import make_voting_config
from voting_cases import CROSS_PART_EDGES, random_inputs

pytestmark = pytest.mark.skipif(
    not custom_op.is_available(),
    reason=f"compiled op unavailable: {custom_op.unavailable_reason()}",
)

# Two edges leaving one source (0 -> 1 and 0 -> 2) exercise the per-source sum
# of the heatmap gradient; map 4 receives no vote at all.
SHARED_SOURCE_EDGES = [(0, 1), (0, 2), (1, 1), (2, 0), (3, 3), (3, 0)]
EDGE_CASES = {
    "within": (None, 3, None),
    "cross": (CROSS_PART_EDGES, 4, None),
    "shared_source": (SHARED_SOURCE_EDGES, 4, 5),
}
KERNELS = [("bilinear", 5, None), ("gaussian", 3, None), ("gaussian", 5, 1.1)]


def _arguments(combine, kernel, edges_case):
    edges, num_maps, num_targets = EDGE_CASES[edges_case]
    kernel_name, kernel_size, sigma = kernel
    arguments = dict(
        combine=combine, kernel=kernel_name, kernel_size=kernel_size, sigma=sigma,
        edges=edges, num_targets=num_targets, displacement_scale=1.25,
    )
    num_edges = len(edges) if edges else num_maps
    return arguments, num_maps, num_edges


@pytest.mark.parametrize("edges_case", sorted(EDGE_CASES))
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"{k[0]}{k[1]}")
@pytest.mark.parametrize("combine", ["additive", "noisy_or", "max"])
def test_forward_matches_pure_tf_to_1e5_in_float32(combine, kernel, edges_case):
    arguments, num_maps, num_edges = _arguments(combine, kernel, edges_case)
    heatmaps, offsets_x, offsets_y = random_inputs(
        seed=11, batch=2, height=12, width=13, num_maps=num_maps, num_edges=num_edges
    )
    # Heatmaps outside [0, 1] too: noisy-OR clips them, the others do not.
    heatmaps[1, :2] = np.linspace(-0.5, 1.5, heatmaps[1, :2].size).reshape(heatmaps[1, :2].shape)
    compiled = mass_displacement(heatmaps, offsets_x, offsets_y, implementation="custom_op",
                                 **arguments)
    pure = mass_displacement(heatmaps, offsets_x, offsets_y, implementation="tf", **arguments)
    assert compiled.dtype == tf.float32
    np.testing.assert_allclose(compiled.numpy(), pure.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("edges_case", sorted(EDGE_CASES))
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"{k[0]}{k[1]}")
@pytest.mark.parametrize("combine", ["additive", "noisy_or", "max"])
def test_gradients_match_pure_tf_in_float64(combine, kernel, edges_case):
    arguments, num_maps, num_edges = _arguments(combine, kernel, edges_case)
    heatmaps, offsets_x, offsets_y = random_inputs(
        seed=5, batch=2, height=9, width=10, num_maps=num_maps, num_edges=num_edges,
        dtype="float64",
    )
    heatmaps[0, 0] = np.linspace(-0.5, 1.5, heatmaps[0, 0].size).reshape(heatmaps[0, 0].shape)
    inputs = [tf.constant(x) for x in (heatmaps, offsets_x, offsets_y)]
    rng = np.random.default_rng(3)

    def gradients(implementation):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            maps = mass_displacement(*inputs, implementation=implementation, **arguments)
            weights = tf.constant(rng.normal(size=maps.shape))
            loss = tf.reduce_sum(maps * weights)
        return [g.numpy() for g in tape.gradient(loss, inputs)]

    state = rng.bit_generator.state
    compiled = gradients("custom_op")
    rng.bit_generator.state = state
    pure = gradients("tf")
    for name, got, want in zip(("heatmaps", "offsets_x", "offsets_y"), compiled, pure):
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("combine", ["additive", "noisy_or", "max"])
def test_half_types_accumulate_in_float32_and_return_the_input_dtype(dtype, combine):
    config = make_voting_config(combine=combine, kernel="gaussian", kernel_size=3)
    heatmaps, offsets_x, offsets_y = random_inputs(seed=2, height=10, width=10)
    half = [tf.cast(x, dtype) for x in (heatmaps, offsets_x, offsets_y)]
    as_float = [tf.cast(x, tf.float32) for x in half]  # the same values, rounded once
    with tf.GradientTape() as tape:
        tape.watch(half)
        got = custom_op.vote_custom_op(*half, config)
        loss = tf.reduce_sum(tf.cast(got, tf.float32))
    grads = tape.gradient(loss, half)
    assert got.dtype == dtype and all(g.dtype == dtype for g in grads)
    want = custom_op.vote_custom_op(*as_float, config)
    # Only the final rounding to the half type differs from float32.
    eps = 2.0 ** -7 if dtype == "bfloat16" else 2.0 ** -10
    np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), want.numpy(),
                               rtol=eps, atol=eps)


def test_cpu_op_is_bit_identical_across_runs():
    heatmaps, offsets_x, offsets_y = random_inputs(
        seed=9, batch=4, height=40, width=48, num_maps=4, num_edges=len(SHARED_SOURCE_EDGES)
    )
    inputs = [tf.constant(x) for x in (heatmaps, offsets_x, offsets_y)]
    for combine, kernel in [("additive", "gaussian"), ("noisy_or", "bilinear"), ("max", "gaussian")]:
        config = make_voting_config(combine=combine, kernel=kernel, kernel_size=5,
                                    edges=SHARED_SOURCE_EDGES)
        runs = []
        for _ in range(3):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                maps = custom_op.vote_custom_op(*inputs, config)
                loss = tf.reduce_sum(maps * maps)
            runs.append([maps.numpy()] + [g.numpy() for g in tape.gradient(loss, inputs)])
        for other in runs[1:]:
            for first, again in zip(runs[0], other):
                assert first.tobytes() == again.tobytes(), (combine, kernel)


@pytest.mark.parametrize("implementation", ["tf", "custom_op"])
def test_bilinear_landing_exactly_at_minus_one_keeps_its_offset_gradient(implementation):
    # x' = -1: the tap on column 0 has weight fx = 0 but d w / d x' = +1 (the
    # one-sided derivative of the contract), so the vote must not be dropped.
    heatmaps = np.zeros((1, 3, 4, 1))
    heatmaps[0, 1, 1, 0] = 0.7
    offsets_x = np.zeros((1, 3, 4, 1))
    offsets_x[0, 1, 1, 0] = -2.0
    offsets_y = np.full((1, 3, 4, 1), 0.25)
    offsets_x = tf.constant(offsets_x)
    upstream = np.arange(12.0).reshape(1, 3, 4, 1)
    with tf.GradientTape() as tape:
        tape.watch(offsets_x)
        maps = mass_displacement(heatmaps, offsets_x, offsets_y, combine="additive",
                                 implementation=implementation)
        loss = tf.reduce_sum(maps * upstream)
    # Rows 1 and 2 of column 0 (y' = 1.25): c * (0.75 * 4 + 0.25 * 8) = 3.5.
    np.testing.assert_allclose(tape.gradient(loss, offsets_x).numpy()[0, 1, 1, 0], 3.5,
                               rtol=1e-12)
