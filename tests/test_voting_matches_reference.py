"""The voting op agrees with the slow NumPy statement of the equations."""

import numpy as np
import pytest
import tensorflow as tf

import reference_voting
from mdn_tf import mass_displacement
from voting_cases import CROSS_PART_EDGES, random_inputs

COMBINES = ["additive", "noisy_or", "max"]
KERNELS = [("bilinear", 5, None), ("gaussian", 3, None), ("gaussian", 5, 1.3)]


@pytest.mark.parametrize("combine", COMBINES)
@pytest.mark.parametrize("kernel,kernel_size,sigma", KERNELS)
@pytest.mark.parametrize("edges", [None, CROSS_PART_EDGES], ids=["within_part", "cross_part"])
def test_matches_numpy_reference(implementation, combine, kernel, kernel_size, sigma, edges):
    num_edges = None if edges is None else len(edges)
    heatmaps, offsets_x, offsets_y = random_inputs(seed=7, num_edges=num_edges)
    arguments = dict(
        combine=combine,
        kernel=kernel,
        kernel_size=kernel_size,
        sigma=sigma,
        edges=edges,
        displacement_scale=1.25,
    )
    expected = reference_voting.vote(heatmaps, offsets_x, offsets_y, **arguments)
    result = mass_displacement(
        heatmaps, offsets_x, offsets_y, implementation=implementation, **arguments
    )
    assert result.dtype == tf.float32
    assert result.shape == expected.shape
    np.testing.assert_allclose(result.numpy(), expected, rtol=0, atol=1e-5)
    if combine == "noisy_or":
        assert np.all((result.numpy() >= 0) & (result.numpy() <= 1))


@pytest.mark.parametrize("combine", COMBINES)
def test_noisy_or_clips_heatmaps_others_do_not(implementation, combine):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=3)
    heatmaps = heatmaps * 3.0 - 1.0  # outside [0, 1]
    expected = reference_voting.vote(heatmaps, offsets_x, offsets_y, combine=combine)
    result = mass_displacement(
        heatmaps, offsets_x, offsets_y, combine=combine, implementation=implementation
    )
    np.testing.assert_allclose(result.numpy(), expected, rtol=0, atol=1e-5)


def test_integer_landing_puts_all_mass_on_one_pixel(implementation):
    heatmaps = np.zeros((1, 5, 5, 1), "float32")
    heatmaps[0, 1, 1, 0] = 0.75
    offsets_x = np.full((1, 5, 5, 1), 2.0, "float32")
    offsets_y = np.full((1, 5, 5, 1), 1.0, "float32")
    result = mass_displacement(
        heatmaps, offsets_x, offsets_y, combine="additive", implementation=implementation
    ).numpy()
    expected = np.zeros_like(result)
    expected[0, 2, 3, 0] = 0.75
    np.testing.assert_array_equal(result, expected)


def test_off_map_corners_are_dropped_not_clamped(implementation):
    heatmaps = np.zeros((1, 3, 3, 1), "float32")
    heatmaps[0, 1, 1, 0] = 1.0
    # Lands at (x, y) = (-0.25, 1.5): half its mass falls off the left edge.
    offsets_x = np.full((1, 3, 3, 1), -1.25, "float32")
    offsets_y = np.full((1, 3, 3, 1), 0.5, "float32")
    result = mass_displacement(
        heatmaps, offsets_x, offsets_y, combine="additive", implementation=implementation
    ).numpy()[0, :, :, 0]
    expected = np.zeros((3, 3))
    expected[1, 0] = expected[2, 0] = 0.75 * 0.5
    np.testing.assert_allclose(result, expected, atol=1e-7)


def test_non_finite_votes_are_dropped_without_touching_other_pixels(implementation):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=11)
    clean = mass_displacement(
        heatmaps, offsets_x, offsets_y, combine="additive", implementation=implementation
    )
    # Moving a vote to NaN / inf removes exactly that vote's contribution.
    broken_x = offsets_x.copy()
    broken_x[0, 4, 4, 1] = np.nan
    broken = mass_displacement(
        heatmaps, broken_x, offsets_y, combine="additive", implementation=implementation
    ).numpy()
    lone = np.zeros_like(heatmaps)
    lone[0, 4, 4, 1] = heatmaps[0, 4, 4, 1]
    contribution = mass_displacement(
        lone, offsets_x, offsets_y, combine="additive", implementation=implementation
    ).numpy()
    assert np.all(np.isfinite(broken))
    np.testing.assert_allclose(broken, clean.numpy() - contribution, atol=1e-5)


def test_gaussian_peak_is_one_and_unnormalised(implementation):
    heatmaps = np.zeros((1, 9, 9, 1), "float64")
    heatmaps[0, 4, 4, 0] = 1.0
    zeros = np.zeros_like(heatmaps)
    result = mass_displacement(
        heatmaps, zeros, zeros, combine="additive", kernel="gaussian",
        kernel_size=5, sigma=1.0, implementation=implementation,
    ).numpy()[0, :, :, 0]
    steps = np.arange(-2, 3)
    window = np.exp(-(steps[:, None] ** 2 + steps[None, :] ** 2) / 2.0)
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = window
    np.testing.assert_allclose(result, expected, atol=1e-12)


def test_maps_without_votes_are_zero(implementation):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=5, num_edges=1)
    for combine in COMBINES:
        result = mass_displacement(
            heatmaps, offsets_x, offsets_y, combine=combine, edges=[(0, 2)],
            num_targets=4, implementation=implementation,
        ).numpy()
        assert result.shape == (2, 6, 7, 4)
        assert not np.any(result[..., [0, 1, 3]])
        assert np.any(result[..., 2])


def test_additive_bilinear_voting_is_adjoint_of_bilinear_gather(implementation):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=19, dtype="float64")
    probe = np.random.default_rng(1).normal(size=heatmaps.shape)
    voted = mass_displacement(
        heatmaps, offsets_x, offsets_y, combine="additive", implementation=implementation
    ).numpy()
    gathered = reference_voting.bilinear_gather(probe, offsets_x, offsets_y)
    np.testing.assert_allclose(np.sum(voted * probe), np.sum(heatmaps * gathered), rtol=1e-10)


@pytest.mark.parametrize(
    "dtype,atol", [("float16", 2e-2), ("bfloat16", 6e-2), ("float32", 1e-5), ("float64", 1e-12)]
)
def test_every_float_dtype_is_returned_in_kind(implementation, dtype, atol):
    heatmaps, offsets_x, offsets_y = random_inputs(seed=2, dtype="float64")
    offsets_x = np.nan_to_num(offsets_x, nan=0.0, posinf=0.0, neginf=0.0)
    offsets_y = np.nan_to_num(offsets_y, nan=0.0, posinf=0.0, neginf=0.0)
    inputs = [tf.cast(x, dtype) for x in (heatmaps, offsets_x, offsets_y)]
    # Compare with the reference on the values the half type actually holds.
    expected = reference_voting.vote(*[tf.cast(x, "float64").numpy() for x in inputs])
    result = mass_displacement(*inputs, implementation=implementation)
    assert result.dtype == tf.as_dtype(dtype)
    np.testing.assert_allclose(tf.cast(result, "float64").numpy(), expected, rtol=0, atol=atol)


def test_empty_batch_and_empty_edges(implementation):
    empty = np.zeros((0, 4, 4, 2), "float32")
    result = mass_displacement(empty, empty, empty, implementation=implementation)
    assert result.shape == (0, 4, 4, 2)
    heatmaps = np.ones((1, 4, 4, 2), "float32")
    no_edges = np.zeros((1, 4, 4, 0), "float32")
    result = mass_displacement(
        heatmaps, no_edges, no_edges, edges=[], num_targets=3, implementation=implementation
    )
    np.testing.assert_array_equal(result.numpy(), np.zeros((1, 4, 4, 3)))
