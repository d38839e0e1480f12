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
