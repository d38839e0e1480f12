"""Keypoints from final maps: arg-max with the customary quarter-pixel shift.

In TensorFlow ops only, so the same code runs eagerly, in evaluation and
inside exported SavedModels. Coordinates are map pixels with pixel (row i,
col j) at (x=j, y=i).

**Flat tops.** A noisy-OR map saturates: where enough confident votes land,
1 - prod(1 - K c) rounds to 1.0 in float32 over a whole plateau (a Gaussian
kernel of kf = 13 makes plateaus several pixels wide; a map trained against
a disk target is flat on the disk). A plain arg-max then returns the
plateau's first pixel in raster order, its top-left corner: a systematic
shift up and left (post-hoc noisy-OR voting with kf = 13 lost 30 PCKh
points to it on the built-in sample). When several pixels tie at the top
(within 1e-6 of the peak, relative for peaks above 1), the decoder instead
picks the tied pixel deepest inside the tied set (highest Gaussian-blurred
share of tied neighbours, so two separate tied modes resolve to the larger
one) and returns the centroid of the tied pixels within `TIE_WINDOW` pixels
of it. A map with a single top pixel is decoded exactly as before.

Shapes: N people, H x W map size, J joints.
"""

import numpy as np
import tensorflow as tf

DECODE_VERSION = 2  # 1: raster-order arg-max on ties; 2: plateau centre
TIE_TOLERANCE = 1e-6  # relative to max(1, |peak|)
TIE_WINDOW = 4  # pixels each side of the chosen tied pixel averaged into the centroid
_DEPTH_SIGMA = 1.5  # pixels: the blur that measures how deep inside the tied set a pixel is


def _depth_kernel():
    radius = int(np.ceil(3 * _DEPTH_SIGMA))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / _DEPTH_SIGMA) ** 2)
    kernel = np.outer(taps, taps)
    return tf.constant((kernel / kernel.sum())[:, :, None, None], tf.float32)


def decode_keypoints(maps, quarter_offset=True):
    """Per-joint arg-max, shifted a quarter pixel toward the higher neighbour.

    The shift (Newell et al. 2016; Xiao et al. 2018) halves the quantisation
    error of the arg-max on smooth maps. It is applied per axis, only where
    both neighbours exist and differ. A map whose top is flat (several
    pixels tie at the maximum) is decoded to the centre of its tied plateau
    (module docstring).

    Args:
        maps: `[N, H, W, J]` final maps.
        quarter_offset: apply the quarter-pixel shift. Defaults to True.

    Returns:
        keypoints `[N, J, 2]` float32 (x, y) in map pixels and scores
        `[N, J]` (the peak values).
    """
    maps = tf.convert_to_tensor(maps, name="maps")
    maps = tf.cast(maps, tf.float32)
    shape = tf.shape(maps)
    height, width = shape[1], shape[2]
    per_joint = tf.transpose(maps, [0, 3, 1, 2])  # [N, J, H, W]
    flat = tf.reshape(per_joint, tf.stack([shape[0], shape[3], height * width]))
    scores = tf.reduce_max(flat, axis=-1)
    tolerance = TIE_TOLERANCE * tf.maximum(tf.abs(scores), 1.0)
    tied = tf.cast(flat >= (scores - tolerance)[..., None], tf.float32)  # [N, J, H*W]
    ties = tf.reduce_sum(tied, axis=-1) > 1.0
    # Depth inside the tied set: a blurred indicator, counted only on tied pixels.
    indicator = tf.reshape(tied, tf.stack([-1, height, width, 1]))
    depth = tf.nn.conv2d(indicator, _depth_kernel(), strides=1, padding="SAME")
    depth = tf.reshape(depth, tf.shape(flat))
    choice = tf.where(ties[..., None], tf.where(tied > 0, depth, -1.0), flat)
    index = tf.argmax(choice, axis=-1, output_type=tf.int32)
    rows, cols = index // width, index % width
    x, y = tf.cast(cols, tf.float32), tf.cast(rows, tf.float32)

    # Centroid of the tied pixels near the chosen one.
    grid_rows = tf.range(height * width) // width
    grid_cols = tf.range(height * width) % width
    near = (tf.abs(grid_rows[None, None, :] - rows[..., None]) <= TIE_WINDOW) & (
        tf.abs(grid_cols[None, None, :] - cols[..., None]) <= TIE_WINDOW)
    weights = tied * tf.cast(near, tf.float32)
    total = tf.reduce_sum(weights, axis=-1)
    centroid_x = tf.reduce_sum(weights * tf.cast(grid_cols, tf.float32), axis=-1) / total
    centroid_y = tf.reduce_sum(weights * tf.cast(grid_rows, tf.float32), axis=-1) / total

    if quarter_offset:

        def value_at(r, c):
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            safe = tf.clip_by_value(r, 0, height - 1) * width + tf.clip_by_value(c, 0, width - 1)
            return tf.gather(flat, safe, batch_dims=2), inside

        right, has_right = value_at(rows, cols + 1)
        left, has_left = value_at(rows, cols - 1)
        below, has_below = value_at(rows + 1, cols)
        above, has_above = value_at(rows - 1, cols)
        x += tf.where(has_left & has_right, 0.25 * tf.sign(right - left), 0.0)
        y += tf.where(has_above & has_below, 0.25 * tf.sign(below - above), 0.0)
    x = tf.where(ties, centroid_x, x)
    y = tf.where(ties, centroid_y, y)
    return tf.stack([x, y], axis=-1), scores
