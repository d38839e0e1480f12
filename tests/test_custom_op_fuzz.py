"""Bad input never crashes the compiled op.

Random shapes (including 0-sized B, H, W, J), offsets that are NaN, +-inf,
+-1e30 or huge, heatmaps outside [0, 1]: the op returns finite maps where the
heatmaps are finite, noisy-OR stays in [0, 1], the pure-TensorFlow path
agrees, and malformed shapes or attributes raise clear errors.
"""

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf import mass_displacement
from mdn_tf.ops import custom_op
from mdn_tf.ops.voting_config import make_voting_config

pytestmark = pytest.mark.skipif(
    not custom_op.is_available(),
    reason=f"compiled op unavailable: {custom_op.unavailable_reason()}",
)

SPECIAL_OFFSETS = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 1e8, -3e4, 0.5, -1.0, 2.0])


def _fuzz_case(rng):
    batch, height, width = (int(rng.choice([0, 1, 2, 3])) for _ in range(3))
    height, width = height * int(rng.integers(1, 4)), width * int(rng.integers(1, 4))
    num_maps = int(rng.choice([0, 1, 2, 3]))
    if num_maps and rng.uniform() < 0.5:
        count = int(rng.integers(0, 5))
        edges = [(int(rng.integers(num_maps)), int(rng.integers(3))) for _ in range(count)]
        num_targets = 3
    else:
        edges, num_targets = None, None
    num_edges = len(edges) if edges is not None else num_maps
    heatmaps = rng.uniform(-1.0, 2.0, (batch, height, width, num_maps))
    offsets = []
    for _ in range(2):
        values = rng.normal(0.0, 3.0, (batch, height, width, num_edges))
        special = rng.uniform(size=values.shape) < 0.3
        values[special] = rng.choice(SPECIAL_OFFSETS, size=int(special.sum()))
        offsets.append(values)
    arguments = dict(
        combine=str(rng.choice(["additive", "noisy_or", "max"])),
        kernel=str(rng.choice(["bilinear", "gaussian"])),
        kernel_size=int(rng.choice([1, 3, 5])),
        edges=edges,
        num_targets=num_targets,
        displacement_scale=float(rng.choice([1.0, -0.75, 2.5])),
    )
    return heatmaps, offsets[0], offsets[1], arguments


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", range(12))
def test_random_shapes_and_non_finite_offsets_give_finite_maps_and_gradients(seed, dtype):
    rng = np.random.default_rng(seed)
    for _ in range(4):
        heatmaps, offsets_x, offsets_y, arguments = _fuzz_case(rng)
        inputs = [tf.constant(x, dtype) for x in (heatmaps, offsets_x, offsets_y)]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            maps = mass_displacement(*inputs, implementation="custom_op", **arguments)
            loss = tf.reduce_sum(maps * maps)
        grads = tape.gradient(loss, inputs)
        maps = maps.numpy()
        assert maps.shape[:3] == heatmaps.shape[:3], arguments
        assert np.all(np.isfinite(maps)), arguments
        if arguments["combine"] == "noisy_or":
            assert np.all((maps >= 0) & (maps <= 1)), arguments
        for grad, tensor in zip(grads, inputs):
            grad = np.zeros(tensor.shape) if grad is None else grad.numpy()
            assert grad.shape == tuple(tensor.shape)
            assert np.all(np.isfinite(grad)), arguments
        if maps.size:
            pure = mass_displacement(*inputs, implementation="tf", **arguments).numpy()
            np.testing.assert_allclose(maps, pure, rtol=1e-5, atol=1e-5, err_msg=str(arguments))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e30 -> inf in half
def test_half_precision_inputs_with_non_finite_offsets_stay_finite():
    rng = np.random.default_rng(0)
    heatmaps = rng.uniform(-0.5, 1.5, (2, 8, 9, 3))
    offsets = rng.choice(SPECIAL_OFFSETS, size=(2, 8, 9, 3))
    for dtype in (tf.float16, tf.bfloat16):
        for combine in ("additive", "noisy_or", "max"):
            config = make_voting_config(combine=combine, kernel="gaussian", kernel_size=3)
            maps = custom_op.vote_custom_op(
                tf.constant(heatmaps, dtype), tf.constant(offsets, dtype),
                tf.constant(offsets[..., ::-1], dtype), config,
            )
            assert maps.dtype == dtype
            assert np.all(np.isfinite(tf.cast(maps, tf.float32).numpy()))


# --- malformed inputs and attributes, through the raw op -----------------------------

def _raw_ops():
    return tf.load_op_library(custom_op.library_path())


def _attrs(**overrides):
    attrs = dict(combine="additive", kernel="bilinear", kernel_size=2, sigma=0.0,
                 sources=[0, 1], targets=[0, 1], num_targets=2, displacement_scale=1.0)
    attrs.update(overrides)
    return attrs


def _zeros(*shape):
    return tf.zeros(shape, tf.float32)


BAD_CALLS = {
    "heatmaps_rank": ((_zeros(2, 3, 4), _zeros(2, 3, 4, 2), _zeros(2, 3, 4, 2)), {},
                      r"heatmaps must be a 4-D tensor \[B, H, W, J\]; got shape \[2,3,4\]"),
    "offsets_rank": ((_zeros(2, 3, 4, 2), _zeros(2, 3, 4), _zeros(2, 3, 4)), {},
                     r"offsets_x must be a 4-D tensor \[B, H, W, E\]; got shape \[2,3,4\]"),
    "offsets_differ": ((_zeros(2, 3, 4, 2), _zeros(2, 3, 4, 2), _zeros(2, 3, 5, 2)), {},
                       r"offsets_x and offsets_y must have the same shape"),
    "batch_differs": ((_zeros(2, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2)), {},
                      r"must share B, H and W; got heatmaps \[2,3,4,2\] and offsets \[1,3,4,2\]"),
    "edges_vs_channels": ((_zeros(2, 3, 4, 2), _zeros(2, 3, 4, 3), _zeros(2, 3, 4, 3)), {},
                          r"one channel per edge, E = 2; got offsets shape \[2,3,4,3\]"),
    "source_out_of_range": ((_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2)),
                            {"sources": [0, 5]}, r"votes from heatmap channel 5"),
    "target_out_of_range": ((_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2)),
                            {"targets": [0, 2]}, r"targets must lie in \[0, num_targets\)"),
    "edge_lists_differ": ((_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2)),
                          {"targets": [0]}, r"sources and targets must have the same length"),
    "even_kernel_size": ((_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2)),
                         {"kernel": "gaussian", "kernel_size": 4, "sigma": 1.0},
                         r"kernel_size must be an odd integer in \[1, 4095\]"),
    "sigma_not_positive": ((_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2)),
                           {"kernel": "gaussian", "kernel_size": 3, "sigma": 0.0},
                           r"sigma must be a positive finite number"),
    "unknown_combine": ((_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2)),
                        {"combine": "sum"}, r"combine"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_malformed_call_raises_invalid_argument_eagerly(case):
    inputs, overrides, message = BAD_CALLS[case]
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=message):
        _raw_ops().mdn_mass_displacement(*inputs, **_attrs(**overrides))


@pytest.mark.parametrize("case", ["heatmaps_rank", "batch_differs", "edges_vs_channels",
                                  "source_out_of_range"])
def test_malformed_static_shapes_fail_when_the_graph_is_built(case):
    inputs, overrides, _ = BAD_CALLS[case]
    specs = [tf.TensorSpec(x.shape, x.dtype) for x in inputs]
    function = tf.function(lambda *args: _raw_ops().mdn_mass_displacement(
        *args, **_attrs(**overrides)))
    with pytest.raises(ValueError):
        function.get_concrete_function(*specs)


def _no_saved_statistics():
    return tf.zeros((0, 0, 0, 0)), tf.zeros((0, 0, 0, 0), tf.int32)


def test_gradient_op_checks_the_upstream_gradient_shape():
    inputs = (_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"grad_output must have the output's shape \[B, H, W, T\] = "
                             r"\[1,3,4,2\]; got \[1,3,4,3\]"):
        _raw_ops().mdn_mass_displacement_grad(_zeros(1, 3, 4, 3), *inputs,
                                              *_no_saved_statistics(), **_attrs())


def test_gradient_op_checks_the_saved_statistics_shape():
    inputs = (_zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2), _zeros(1, 3, 4, 2))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"saved_stat and saved_count must both be empty, or saved_stat "
                             r"must have the output's shape \[B, H, W, T\] = \[1,3,4,2\]"):
        _raw_ops().mdn_mass_displacement_grad(
            _zeros(1, 3, 4, 2), *inputs, _zeros(1, 3, 4, 1), tf.zeros((1, 3, 4, 1), tf.int32),
            **_attrs(combine="max"))


@pytest.mark.parametrize("combine", ["noisy_or", "max"])
@pytest.mark.parametrize("kernel", ["bilinear", "gaussian"])
def test_saved_statistics_give_the_same_gradient_as_recomputing_them(combine, kernel):
    rng = np.random.default_rng(8)
    heatmaps = tf.constant(rng.uniform(-0.2, 1.2, (2, 9, 10, 3)), tf.float32)
    heatmaps = tf.tensor_scatter_nd_update(heatmaps, [[0, 4, 4, 0]], [1.0])  # a certain vote
    offsets_x = tf.constant(np.round(rng.normal(0, 2, (2, 9, 10, 3))), tf.float32)
    offsets_y = tf.constant(rng.normal(0, 2, (2, 9, 10, 3)), tf.float32)
    upstream = tf.constant(rng.normal(size=(2, 9, 10, 3)), tf.float32)
    attrs = _attrs(combine=combine, kernel=kernel, kernel_size=3 if kernel == "gaussian" else 2,
                   sigma=0.8, sources=[0, 1, 2], targets=[0, 1, 2], num_targets=3)
    ops = _raw_ops()
    output, stat, count = ops.mdn_mass_displacement(heatmaps, offsets_x, offsets_y, **attrs)
    assert stat.shape == output.shape
    # Noisy-OR keeps its zero-factor counts inside saved_stat (no count array).
    assert count.shape == (output.shape if combine == "max" else (0, 0, 0, 0))
    saved = ops.mdn_mass_displacement_grad(upstream, heatmaps, offsets_x, offsets_y, stat, count,
                                           **attrs)
    recomputed = ops.mdn_mass_displacement_grad(upstream, heatmaps, offsets_x, offsets_y,
                                                *_no_saved_statistics(), **attrs)
    for got, want in zip(saved, recomputed):
        assert got.numpy().tobytes() == want.numpy().tobytes()


def test_wrapper_rejects_mixed_or_integer_dtypes():
    config = make_voting_config()
    with pytest.raises(TypeError, match="must share one dtype"):
        custom_op.vote_custom_op(tf.zeros((1, 2, 2, 1)), tf.zeros((1, 2, 2, 1), tf.float64),
                                 tf.zeros((1, 2, 2, 1)), config)
    with pytest.raises(TypeError, match="must share one dtype"):
        custom_op.vote_custom_op(tf.zeros((1, 2, 2, 1), tf.int32),
                                 tf.zeros((1, 2, 2, 1), tf.int32),
                                 tf.zeros((1, 2, 2, 1), tf.int32), config)
