"""Decoding, flip test and cropping of the inference path."""

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.data import transforms
from mdn_tf.inference import (
    crop_people,
    decode_keypoints,
    flip_test_maps,
    maps_to_image,
    unflip_maps,
)


def reference_decode(maps, quarter_offset=True):
    """Arg-max and quarter-pixel shift, one map at a time."""
    n, h, w, j = maps.shape
    points, scores = np.zeros((n, j, 2)), np.zeros((n, j))
    for i in range(n):
        for k in range(j):
            m = maps[i, :, :, k]
            y, x = np.unravel_index(np.argmax(m), m.shape)
            px, py = float(x), float(y)
            if quarter_offset:
                if 0 < x < w - 1:
                    px += 0.25 * np.sign(m[y, x + 1] - m[y, x - 1])
                if 0 < y < h - 1:
                    py += 0.25 * np.sign(m[y + 1, x] - m[y - 1, x])
            points[i, k], scores[i, k] = (px, py), m[y, x]
    return points, scores


@pytest.mark.parametrize("quarter_offset", [True, False])
def test_decode_matches_reference(quarter_offset):
    maps = np.random.default_rng(0).uniform(size=(3, 7, 9, 5)).astype("float32")
    maps[0, 0, 0, 0] = 2.0  # a peak in a corner: no shift there
    maps[1, 6, 4, 1] = 2.0  # on the bottom edge: x shifts, y does not
    keypoints, scores = decode_keypoints(maps, quarter_offset)
    expected_points, expected_scores = reference_decode(maps, quarter_offset)
    np.testing.assert_allclose(keypoints.numpy(), expected_points)
    np.testing.assert_allclose(scores.numpy(), expected_scores)
    assert tuple(keypoints.numpy()[0, 0]) == (0.0, 0.0)


def test_unflip_reverses_width_and_swaps_channels():
    maps = np.zeros((1, 4, 5, 3), "float32")
    maps[0, 1, 0, 0] = 1.0  # joint 0 seen at x=0 in the mirrored map
    back = unflip_maps(maps, [2, 1, 0]).numpy()
    assert back[0, 1, 4, 2] == 1.0 and back.sum() == 1.0


def test_flip_test_of_an_equivariant_network_changes_nothing():
    # Average pooling commutes with mirroring when the width divides evenly,
    # so the flip test must return the plain maps.
    pool = tf.keras.layers.AveragePooling2D(4)
    crops = np.random.default_rng(1).uniform(size=(2, 16, 12, 3)).astype("float32")
    np.testing.assert_allclose(
        flip_test_maps(pool, crops, [0, 1, 2]).numpy(), pool(crops).numpy(), atol=1e-6
    )


def test_crop_and_inverse_transform_return_to_image_pixels():
    image = np.zeros((1, 120, 90, 3), "uint8")
    image[0, 70, 30] = 255  # a bright pixel at (x=30, y=70)
    boxes = np.array([[10.0, 40.0, 50.0, 60.0]], "float32")
    crops, inverse = crop_people(image, boxes, (64, 48))
    crop = crops.numpy()[0, :, :, 0]
    y, x = np.unravel_index(np.argmax(crop), crop.shape)
    # Map the brightest crop pixel back: within one crop pixel of (30, 70).
    at_image = maps_to_image(tf.constant([[[x, y]]], tf.float32), inverse, stride=1.0)
    np.testing.assert_allclose(at_image.numpy()[0, 0], [30, 70], atol=1.5)
    # Map-resolution points agree with the data module's NumPy mapping.
    points = np.array([[[3.25, 7.5], [10.0, 0.0]]], "float32")
    np.testing.assert_allclose(
        maps_to_image(points, inverse, stride=4.0).numpy()[0],
        transforms.map_to_image(points[0], inverse.numpy()[0], 4.0),
        atol=1e-4,
    )


def test_a_saturated_plateau_is_decoded_at_its_centre_not_its_first_pixel():
    # A noisy-OR map saturates to 1.0 over a plateau; the raster-order arg-max
    # used to return its top-left corner (x 10.25, y 8.25 here).
    maps = np.zeros((1, 24, 24, 2), np.float32)
    maps[0, 8:13, 10:15, 0] = 1.0  # 5 x 5 plateau centred on (x 12, y 10)
    maps[0, 4:6, 6:8, 1] = 1.0  # 2 x 2 plateau: centre between four pixels
    maps[0, 3:7, 5:9, 1] = np.maximum(maps[0, 3:7, 5:9, 1], 0.5)
    keypoints, scores = decode_keypoints(maps)
    np.testing.assert_allclose(keypoints.numpy()[0], [[12.0, 10.0], [6.5, 4.5]])
    np.testing.assert_allclose(scores.numpy()[0], [1.0, 1.0])


def test_two_tied_modes_resolve_to_the_larger_one():
    maps = np.zeros((1, 20, 30, 1), np.float32)
    maps[0, 2:4, 2:4, 0] = 1.0  # small mode first in raster order
    maps[0, 10:15, 20:25, 0] = 1.0  # larger mode
    keypoints, _ = decode_keypoints(maps)
    np.testing.assert_allclose(keypoints.numpy()[0, 0], [22.0, 12.0])


def test_ties_within_float_rounding_of_a_saturated_peak_count_as_tied():
    maps = np.zeros((1, 12, 12, 1), np.float32)
    maps[0, 4:7, 4:7, 0] = np.float32(1.0) - np.float32(6e-8)  # rounding below 1.0
    maps[0, 5, 5, 0] = 1.0
    maps[0, 4, 4, 0] = 1.0
    keypoints, _ = decode_keypoints(maps)
    np.testing.assert_allclose(keypoints.numpy()[0, 0], [5.0, 5.0])
