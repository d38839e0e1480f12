"""Affine person crops, their inverses, and training augmentation.

Every crop is a 2 x 3 affine matrix `M` taking image points to crop points,
`[u, v] = M @ [x, y, 1]`, with pixel (row i, col j) at the point (x=j, y=i)
in both. The crop box (centre c, width bw, height bh in image pixels) covers
the output exactly: its edges map to the outer edges of the border pixels, so

    u = (x - c_x) * W / bw + (W - 1) / 2        (no rotation, no flip)

and the same box cropped at input size (H_in, W_in) and at map size
(H_in / stride, W_in / stride) gives matrices that agree with
`map = (input + 0.5) / stride - 0.5`. Targets are therefore built by mapping
keypoints with the map-size matrix directly.

Shapes: J joints.
"""

import math

import numpy as np
import tensorflow as tf

from mdn_tf.data.records import PIXELS_PER_SCALE

SCALE_RANGE = 0.25  # random scale factor in [1 - 0.25, 1 + 0.25]
ROTATION_RANGE = 30.0  # degrees, uniform in [-30, 30]
ROTATION_PROBABILITY = 0.6
FLIP_PROBABILITY = 0.5
BRIGHTNESS = 0.1  # additive, images in [0, 1]
CONTRAST = 0.2  # multiplicative factor in [0.8, 1.2]
SATURATION = 0.2  # factor in [0.8, 1.2]


def affine_matrix(center, scale, output_size, rotation=0.0, flip=False):
    """Returns the `[2, 3]` float32 matrix taking image points to crop points.

    Args:
        center: `[2]` crop-box centre (x, y) in image pixels.
        scale: `[2]` crop-box (width, height) in units of 200 px. The box is
            widened or heightened to the output's aspect ratio, never shrunk.
        output_size: `(height, width)` of the crop.
        rotation: degrees; the content turns by this angle (clockwise on
            screen, since y points down). Defaults to 0.
        flip: mirror the crop left-right. Defaults to False.
    """
    center = tf.cast(center, tf.float32)
    box = tf.cast(scale, tf.float32) * PIXELS_PER_SCALE
    height, width = float(output_size[0]), float(output_size[1])
    box_w = tf.maximum(box[0], box[1] * width / height)
    box_h = box_w * height / width
    angle = tf.cast(rotation, tf.float32) * (math.pi / 180.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    sx = tf.where(tf.cast(flip, tf.bool), -width / box_w, width / box_w)
    sy = height / box_h
    # M = T_out . S . R . T(-c)
    a = tf.stack([sx * cos, -sx * sin])
    b = tf.stack([sy * sin, sy * cos])
    tx = (width - 1.0) / 2.0 - (a[0] * center[0] + a[1] * center[1])
    ty = (height - 1.0) / 2.0 - (b[0] * center[0] + b[1] * center[1])
    return tf.stack([tf.concat([a, [tx]], 0), tf.concat([b, [ty]], 0)])


def invert_affine(matrix):
    """Inverts a `[2, 3]` affine matrix (TF or NumPy input, same kind out)."""
    if isinstance(matrix, np.ndarray):
        full = np.concatenate([matrix, [[0.0, 0.0, 1.0]]], 0)
        return np.linalg.inv(full.astype(np.float64))[:2].astype(matrix.dtype)
    matrix = tf.convert_to_tensor(matrix, tf.float32, name="matrix")
    full = tf.concat([matrix, tf.constant([[0.0, 0.0, 1.0]])], 0)
    return tf.linalg.inv(full)[:2]


def apply_affine(matrix, points):
    """Maps `[..., 2]` points through a `[2, 3]` matrix (TF or NumPy, same kind out)."""
    if isinstance(points, np.ndarray) and isinstance(matrix, np.ndarray):
        return points @ matrix[:, :2].T + matrix[:, 2]
    points = tf.convert_to_tensor(points, tf.float32)
    matrix = tf.convert_to_tensor(matrix, tf.float32)
    return tf.linalg.matvec(matrix[:, :2], points) + matrix[:, 2]


def map_to_image(points, inverse, stride):
    """Maps output-map points `[..., 2]` to original-image points (NumPy).

    Args:
        points: keypoints at map resolution, e.g. from `MDNCodec.decode`.
        inverse: `[2, 3]` crop-to-image matrix at input resolution, the
            "inverse_transform" of an evaluation sample.
        stride: input size / map size, e.g. 4.
    """
    points = np.asarray(points, dtype=np.float64)
    inverse = np.asarray(inverse, dtype=np.float64)
    return apply_affine(inverse, (points + 0.5) * stride - 0.5)


def warp_image(image, matrix, output_size):
    """Crops `image` `[h, w, C]` float32 to `output_size` through `matrix` (image -> crop).

    Bilinear sampling; outside the image is 0.
    """
    to_image = invert_affine(matrix)
    transform = tf.concat([tf.reshape(to_image, [6]), tf.zeros([2])], 0)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis],
        transforms=transform[tf.newaxis],
        output_shape=tf.constant(output_size, tf.int32),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return warped[0]


def flip_joints(joints, visibility, flip_permutation, flip):
    """Swaps left/right joint channels when `flip` (coordinates already mirrored by the matrix)."""
    perm = tf.constant(flip_permutation, tf.int32)
    flip = tf.cast(flip, tf.bool)
    joints = tf.where(flip, tf.gather(joints, perm), joints)
    visibility = tf.where(flip, tf.gather(visibility, perm), visibility)
    return joints, visibility


def sample_augmentation(seed, scale_range=SCALE_RANGE, rotation_range=ROTATION_RANGE,
                        rotation_probability=ROTATION_PROBABILITY,
                        flip_probability=FLIP_PROBABILITY):
    """Draws (scale factor, rotation degrees, flip) from a stateless `[2]` seed."""
    u = tf.random.stateless_uniform([4], seed=seed)
    scale = 1.0 + scale_range * (2.0 * u[0] - 1.0)
    rotation = tf.where(u[1] < rotation_probability, rotation_range * (2.0 * u[2] - 1.0), 0.0)
    flip = u[3] < flip_probability
    return scale, rotation, flip


def color_jitter(image, seed, brightness=BRIGHTNESS, contrast=CONTRAST, saturation=SATURATION):
    """Mild brightness, contrast and saturation jitter of a `[H, W, 3]` image in [0, 1]."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    image = tf.image.stateless_random_brightness(image, brightness, seeds[0])
    image = tf.image.stateless_random_contrast(image, 1.0 - contrast, 1.0 + contrast, seeds[1])
    image = tf.image.stateless_random_saturation(image, 1.0 - saturation, 1.0 + saturation, seeds[2])
    return tf.clip_by_value(image, 0.0, 1.0)
