"""The keras.ops voting path against the NumPy reference and finite differences.

Backend-agnostic: this file runs in the TensorFlow test process (as
`implementation="keras"`, every case) and again, through
`tests/test_keras_backends.py`, in one subprocess per backend with
`KERAS_BACKEND=jax` and `KERAS_BACKEND=torch` (as `implementation="auto"`,
the core cases: every combine x kernel x within/cross-part, without the
second Gaussian). On JAX the votes are compiled with `jax.jit`.
"""

import zlib

import keras
import numpy as np
import pytest

import reference_voting
from backend_autodiff import float64_available, jit, value_and_vector_jacobian_product
from mdn_tf import MassDisplacement, mass_displacement
from voting_cases import CROSS_PART_EDGES, random_inputs, smooth_inputs

BACKEND = keras.backend.backend()
IMPLEMENTATION = "keras" if BACKEND == "tensorflow" else "auto"
EXHAUSTIVE = BACKEND == "tensorflow"
COMBINES = ["additive", "noisy_or", "max"]
KERNELS = [("bilinear", 5, None), ("gaussian", 3, None)]
if EXHAUSTIVE:
    KERNELS.append(("gaussian", 5, 1.3))
EDGES = pytest.mark.parametrize(
    "edges", [None, CROSS_PART_EDGES], ids=["within_part", "cross_part"]
)
needs_float64 = pytest.mark.skipif(
    not float64_available(), reason="float64 is off on this backend (set JAX_ENABLE_X64=1)"
)


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _function(**arguments):
    """mass_displacement with fixed arguments, as a function of the three inputs."""
    return lambda c, x, y: mass_displacement(c, x, y, implementation=IMPLEMENTATION,
                                             **arguments)


def _voting(**arguments):
    """mass_displacement on the backend's tensors, jit-compiled on JAX."""
    return jit(_function(**arguments))


@pytest.mark.parametrize("combine", COMBINES)
@pytest.mark.parametrize("kernel,kernel_size,sigma", KERNELS)
@EDGES
def test_matches_numpy_reference(combine, kernel, kernel_size, sigma, edges):
    num_edges = None if edges is None else len(edges)
    heatmaps, offsets_x, offsets_y = random_inputs(seed=7, num_edges=num_edges)
    arguments = dict(combine=combine, kernel=kernel, kernel_size=kernel_size, sigma=sigma,
                     edges=edges, displacement_scale=1.25)
    expected = reference_voting.vote(heatmaps, offsets_x, offsets_y, **arguments)
    result = _voting(**arguments)(heatmaps, offsets_x, offsets_y)
    assert keras.backend.standardize_dtype(result.dtype) == "float32"
    np.testing.assert_allclose(_numpy(result), expected, rtol=0, atol=1e-5)


def _gradients_and_finite_differences(function, inputs, upstream, delta):
    """Analytic gradients of sum(upstream * function) at `inputs`, and the
    same by central differences, from one call.

    Batch items vote independently, so the one-item inputs and every
    perturbed copy of them form one batch: item 0 carries the upstream
    gradient, the others give the differences.
    """
    copies = [inputs]
    for index, value in enumerate(inputs):
        for element in range(value.size):
            for sign in (1.0, -1.0):
                perturbed = [x.copy() for x in inputs]
                perturbed[index].reshape(-1)[element] += sign * delta
                copies.append(perturbed)
    batch = [np.concatenate([copy[i] for copy in copies]) for i in range(len(inputs))]
    upstream_batch = np.zeros((len(copies),) + upstream.shape[1:])
    upstream_batch[0] = upstream[0]
    output, grads = value_and_vector_jacobian_product(function, batch, upstream_batch)
    losses = np.sum(output[1:] * upstream, axis=(1, 2, 3))
    slopes = (losses[0::2] - losses[1::2]) / (2.0 * delta)
    sizes = np.cumsum([0] + [x.size for x in inputs])
    numerical = [slopes[sizes[i]:sizes[i + 1]].reshape(x.shape) for i, x in enumerate(inputs)]
    return [g[:1] for g in grads], numerical


@needs_float64
@pytest.mark.parametrize("combine", COMBINES)
@pytest.mark.parametrize("kernel", ["bilinear", "gaussian"])
@EDGES
def test_gradient_matches_finite_differences(combine, kernel, edges):
    num_maps = 3 if edges else 2
    edges = edges[:5] if edges else None
    num_edges = len(edges) if edges else None
    inputs = list(smooth_inputs(seed=zlib.crc32(f"{combine}{kernel}{edges}".encode()),
                                num_maps=num_maps, num_edges=num_edges))
    # displacement_scale 2 with halved offsets keeps the landing points of
    # smooth_inputs, away from the kinks of the kernels.
    inputs[1] /= 2.0
    inputs[2] /= 2.0
    function = _function(combine=combine, kernel=kernel, kernel_size=3, edges=edges,
                         displacement_scale=2.0)
    output_shape = inputs[0].shape[:3] + (num_maps if edges is None else 3,)
    upstream = np.random.default_rng(1).normal(size=output_shape)
    analytic, numerical = _gradients_and_finite_differences(function, inputs, upstream, 1e-6)
    for name, got, want in zip(("heatmaps", "offsets_x", "offsets_y"), analytic, numerical):
        assert np.all(np.isfinite(got)), name
        assert np.abs(got).max() > 0, f"the gradient of {name} should not vanish"
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def _certain_vote_case():
    """Two votes land on pixel (2, 2): a certain one (c = 1, integer landing)
    from (0, 0) and one with c = 0.5 from (1, 1); m = 1 - 0 * 0.5 = 1."""
    heatmaps = np.zeros((1, 4, 4, 1), "float32")
    heatmaps[0, 0, 0, 0] = 1.0
    heatmaps[0, 1, 1, 0] = 0.5
    offsets = np.zeros((1, 4, 4, 1), "float32")
    offsets[0, 0, 0, 0] = 2.0
    offsets[0, 1, 1, 0] = 1.0
    return heatmaps, offsets


def _pixel_gradients(heatmaps, offsets_x, offsets_y, pixel, **arguments):
    """Value and gradients of one output pixel."""
    upstream = np.zeros(heatmaps.shape[:3] + (1,), heatmaps.dtype)
    upstream[pixel] = 1.0
    output, grads = value_and_vector_jacobian_product(
        _function(**arguments), [heatmaps, offsets_x, offsets_y], upstream)
    return output[pixel], grads


def test_noisy_or_gradient_is_exact_where_a_vote_is_certain():
    heatmaps, offsets = _certain_vote_case()
    value, (grad_c, grad_x, grad_y) = _pixel_gradients(heatmaps, offsets, offsets, (0, 2, 2, 0))
    assert value == 1.0
    for grad in (grad_c, grad_x, grad_y):
        assert np.all(np.isfinite(grad))
    # dm/dc_i = K_i * prod_{j != i} (1 - K_j c_j): the certain vote sees the
    # other factor 0.5, the uncertain one sees the certain factor 0.
    assert grad_c[0, 0, 0, 0] == pytest.approx(0.5)
    assert grad_c[0, 1, 1, 0] == pytest.approx(0.0)
    # Moving the certain vote right by dx lowers its weight on (2, 2) by dx
    # (one-sided derivative at the integer landing): dm/dox = -c * 0.5.
    assert grad_x[0, 0, 0, 0] == pytest.approx(-0.5)
    assert grad_y[0, 0, 0, 0] == pytest.approx(-0.5)


def test_noisy_or_gradient_with_two_certain_votes_is_zero_not_nan():
    heatmaps, offsets = _certain_vote_case()
    heatmaps[0, 1, 1, 0] = 1.0  # now both factors are zero
    value, grads = _pixel_gradients(heatmaps, offsets, offsets, (0, 2, 2, 0))
    assert value == 1.0
    for grad in grads:
        np.testing.assert_array_equal(grad, np.zeros_like(grad))


def test_max_sends_the_gradient_to_the_winner_and_splits_exact_ties():
    heatmaps = np.zeros((1, 3, 3, 1), "float32")
    heatmaps[0, 0, 0, 0] = 0.9
    heatmaps[0, 0, 2, 0] = 0.4
    offsets_x = np.zeros((1, 3, 3, 1), "float32")
    offsets_x[0, 0, 0, 0], offsets_x[0, 0, 2, 0] = 1.0, -1.0  # both land on (1, 0)
    offsets_y = np.zeros_like(offsets_x)
    value, (grad_c, _, _) = _pixel_gradients(heatmaps, offsets_x, offsets_y, (0, 0, 1, 0),
                                             combine="max")
    assert value == pytest.approx(0.9)
    expected = np.zeros_like(grad_c)
    expected[0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(grad_c, expected)

    heatmaps[0, 0, 2, 0] = 0.9  # an exact tie: each winner gets half
    value, (grad_c, _, _) = _pixel_gradients(heatmaps, offsets_x, offsets_y, (0, 0, 1, 0),
                                             combine="max")
    assert value == pytest.approx(0.9)
    expected[0, 0, 0, 0] = expected[0, 0, 2, 0] = 0.5
    np.testing.assert_array_equal(grad_c, expected)


@pytest.mark.parametrize("combine", COMBINES)
def test_non_finite_votes_are_dropped_and_get_zero_gradient(combine):
    heatmaps, offsets_x, offsets_y = (x.astype("float32") for x in smooth_inputs(seed=4))
    offsets_x[0, 1, 1, 0] = np.nan
    offsets_y[0, 2, 2, 1] = np.inf
    offsets_x[0, 3, 0, 1] = -np.inf
    expected = reference_voting.vote(heatmaps, offsets_x, offsets_y, combine=combine)
    upstream = np.random.default_rng(2).normal(size=expected.shape).astype("float32")
    output, grads = value_and_vector_jacobian_product(
        _function(combine=combine), [heatmaps, offsets_x, offsets_y], upstream)
    np.testing.assert_allclose(output, expected, atol=1e-5)
    for grad in grads:
        assert np.all(np.isfinite(grad)), combine
    assert grads[0][0, 1, 1, 0] == 0 and grads[1][0, 1, 1, 0] == 0
    assert grads[0][0, 2, 2, 1] == 0 and grads[2][0, 2, 2, 1] == 0
    assert grads[0][0, 3, 0, 1] == 0 and grads[1][0, 3, 0, 1] == 0


# random_inputs holds a 1e30 offset, which becomes -inf in float16 (a dropped vote).
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("dtype,atol", [("float16", 2e-2), ("bfloat16", 6e-2)])
def test_half_types_are_voted_in_float32_and_returned_in_kind(dtype, atol):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=2)
    inputs = [keras.ops.cast(x, dtype) for x in (heatmaps, offsets_x, offsets_y)]
    # Compare with the reference on the values the half type actually holds.
    expected = reference_voting.vote(*[_numpy(keras.ops.cast(x, "float32")) for x in inputs])
    result = _voting()(*inputs)
    assert keras.backend.standardize_dtype(result.dtype) == dtype
    np.testing.assert_allclose(_numpy(keras.ops.cast(result, "float32")), expected, atol=atol)


@needs_float64
def test_float64_is_computed_and_returned_in_float64():
    heatmaps, offsets_x, offsets_y = random_inputs(seed=2, dtype="float64")
    expected = reference_voting.vote(heatmaps, offsets_x, offsets_y, kernel="gaussian")
    result = _voting(kernel="gaussian")(heatmaps, offsets_x, offsets_y)
    assert keras.backend.standardize_dtype(result.dtype) == "float64"
    np.testing.assert_allclose(_numpy(result), expected, atol=1e-12)


def test_empty_batch_and_empty_edges():
    empty = np.zeros((0, 4, 4, 2), "float32")
    assert tuple(_voting()(empty, empty, empty).shape) == (0, 4, 4, 2)
    heatmaps = np.ones((1, 4, 4, 2), "float32")
    no_edges = np.zeros((1, 4, 4, 0), "float32")
    result = _voting(edges=[], num_targets=3)(heatmaps, no_edges, no_edges)
    np.testing.assert_array_equal(_numpy(result), np.zeros((1, 4, 4, 3)))


def test_layer_in_a_functional_model_with_unknown_batch_size():
    """The report of the issue: building a model with keras.Input failed on JAX."""
    features = keras.Input((6, 7, 4))
    heatmaps = keras.layers.Conv2D(3, 1, activation="sigmoid")(features)
    offsets_x = keras.layers.Conv2D(len(CROSS_PART_EDGES), 1)(features)
    offsets_y = keras.layers.Conv2D(len(CROSS_PART_EDGES), 1)(features)
    voted = MassDisplacement(edges=CROSS_PART_EDGES, displacement_scale=2.0,
                             implementation=IMPLEMENTATION)(heatmaps, offsets_x, offsets_y)
    model = keras.Model(features, [heatmaps, offsets_x, offsets_y, voted])
    assert tuple(voted.shape) == (None, 6, 7, 4)
    images = np.random.default_rng(0).normal(size=(3, 6, 7, 4)).astype("float32")
    c, x, y, m = (_numpy(t) for t in model(images))
    expected = reference_voting.vote(c, x, y, edges=CROSS_PART_EDGES, displacement_scale=2.0)
    np.testing.assert_allclose(m, expected, atol=1e-5)
    # predict() compiles the whole model (jax.jit on JAX).
    np.testing.assert_allclose(model.predict(images, verbose=0)[3], m, atol=1e-6)


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the compiled op runs on TensorFlow")
def test_compiled_op_is_refused_and_tf_means_the_keras_path_off_tensorflow():
    ones = np.ones((1, 3, 3, 1), "float32")
    message = f'implementation="custom_op" was requested.*"{BACKEND}" backend'
    with pytest.raises(RuntimeError, match=message):
        MassDisplacement(implementation="custom_op")
    with pytest.raises(RuntimeError, match=message):
        mass_displacement(ones, ones, ones, implementation="custom_op")
    heatmaps, offsets_x, offsets_y = random_inputs(seed=3)
    np.testing.assert_array_equal(
        _numpy(mass_displacement(heatmaps, offsets_x, offsets_y, implementation="tf")),
        _numpy(mass_displacement(heatmaps, offsets_x, offsets_y)),
    )


def test_layer_docstring_example_runs_on_this_backend():
    import doctest

    import mdn_tf.layers.mass_displacement as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
