"""Tests of the affine crop, its inverse, flips and augmentation sampling."""

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.data import transforms
from mdn_tf.skeleton import MPII

CASES = [  # (center, scale, rotation, flip)
    ([120.0, 80.0], [1.2, 1.2], 0.0, False),
    ([60.5, 140.25], [0.7, 1.1], 27.0, False),
    ([200.0, 30.0], [2.0, 0.9], -30.0, True),
]


@pytest.mark.parametrize("center,scale,rotation,flip", CASES)
@pytest.mark.parametrize("size", [(256, 256), (256, 192), (64, 48)])
def test_crop_then_inverse_returns_keypoints_within_half_a_pixel(center, scale, rotation, flip, size):
    points = np.random.default_rng(0).uniform(0, 300, (17, 2))
    matrix = transforms.affine_matrix(center, scale, size, rotation, flip).numpy()
    back = transforms.apply_affine(transforms.invert_affine(matrix), transforms.apply_affine(matrix, points))
    np.testing.assert_allclose(back, points, atol=0.5)
    assert np.abs(back - points).max() < 1e-2


def test_box_centre_maps_to_the_crop_centre_and_box_edges_to_the_border():
    matrix = transforms.affine_matrix([100.0, 50.0], [0.32, 0.32], (64, 64)).numpy()
    # Box of 64 px: 1 image pixel per crop pixel; its edges are x = 68 and 132.
    corners = transforms.apply_affine(matrix, np.array([[100.0, 50.0], [68.0, 18.0], [132.0, 82.0]]))
    np.testing.assert_allclose(corners, [[31.5, 31.5], [-0.5, -0.5], [63.5, 63.5]], atol=1e-4)


def test_map_and_input_crops_agree_through_the_stride():
    args = ([77.0, 91.0], [0.9, 1.3], 12.0, True)
    to_input = transforms.affine_matrix(args[0], args[1], (256, 192), *args[2:]).numpy()
    to_map = transforms.affine_matrix(args[0], args[1], (64, 48), *args[2:]).numpy()
    points = np.random.default_rng(1).uniform(0, 200, (10, 2))
    on_map = transforms.apply_affine(to_map, points)
    np.testing.assert_allclose(
        on_map, (transforms.apply_affine(to_input, points) + 0.5) / 4 - 0.5, atol=1e-3)
    np.testing.assert_allclose(
        transforms.map_to_image(on_map, transforms.invert_affine(to_input), 4), points, atol=1e-2)


def test_warp_moves_image_content_where_the_matrix_moves_points():
    ys, xs = np.mgrid[0:120, 0:160].astype(np.float32)
    spot = (71.3, 40.6)
    image = np.exp(-((xs - spot[0]) ** 2 + (ys - spot[1]) ** 2) / (2 * 3.0**2))
    image = np.repeat(image[..., None], 3, axis=-1)
    matrix = transforms.affine_matrix([80.0, 60.0], [0.8, 0.8], (96, 96), 25.0, True)
    crop = transforms.warp_image(tf.constant(image), matrix, (96, 96)).numpy()[..., 0]
    expected = transforms.apply_affine(matrix.numpy(), np.array(spot))
    cy, cx = np.mgrid[0:96, 0:96]
    centroid = np.array([(crop * cx).sum(), (crop * cy).sum()]) / crop.sum()
    np.testing.assert_allclose(centroid, expected, atol=0.25)


def test_flipping_image_and_keypoints_twice_is_the_identity():
    rng = np.random.default_rng(2)
    image = tf.constant(rng.uniform(0, 1, (64, 64, 3)).astype(np.float32))
    joints = tf.constant(rng.uniform(0, 63, (16, 2)).astype(np.float32))
    visibility = tf.constant((rng.uniform(size=16) > 0.3).astype(np.float32))
    flip = transforms.affine_matrix([31.5, 31.5], [0.32, 0.32], (64, 64), 0.0, True)
    perm = MPII.flip_permutation()
    once = transforms.warp_image(image, flip, (64, 64))
    np.testing.assert_allclose(once.numpy(), image.numpy()[:, ::-1], atol=1e-5)
    j1, v1 = transforms.flip_joints(transforms.apply_affine(flip, joints), visibility, perm, True)
    # The left wrist of the flipped person is the mirrored right wrist.
    np.testing.assert_allclose(j1.numpy()[15], [63.0 - joints.numpy()[10, 0], joints.numpy()[10, 1]],
                               atol=1e-4)
    twice = transforms.warp_image(once, flip, (64, 64))
    j2, v2 = transforms.flip_joints(transforms.apply_affine(flip, j1), v1, perm, True)
    np.testing.assert_allclose(twice.numpy(), image.numpy(), atol=1e-5)
    np.testing.assert_allclose(j2.numpy(), joints.numpy(), atol=1e-4)
    np.testing.assert_array_equal(v2.numpy(), visibility.numpy())


def test_augmentation_stays_in_its_documented_ranges():
    draws = [transforms.sample_augmentation(tf.constant([7, i], tf.int64)) for i in range(300)]
    scale = np.array([float(d[0]) for d in draws])
    rotation = np.array([float(d[1]) for d in draws])
    flips = np.array([bool(d[2]) for d in draws])
    assert scale.min() >= 0.75 and scale.max() <= 1.25
    assert np.abs(rotation).max() <= 30.0
    assert 0.45 < np.mean(rotation != 0) < 0.75
    assert 0.35 < flips.mean() < 0.65


def test_color_jitter_keeps_images_in_range_and_is_seeded():
    image = tf.random.stateless_uniform([8, 8, 3], seed=[1, 2])
    a = transforms.color_jitter(image, tf.constant([3, 4], tf.int64))
    b = transforms.color_jitter(image, tf.constant([3, 4], tf.int64))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert 0.0 <= float(tf.reduce_min(a)) and float(tf.reduce_max(a)) <= 1.0
