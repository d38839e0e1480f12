"""Keypoints from final maps: arg-max with the customary quarter-pixel shift.

In TensorFlow ops only, so the same code runs eagerly, in evaluation and
inside exported SavedModels. Coordinates are map pixels with pixel (row i,
col j) at (x=j, y=i).

Shapes: N people, H x W map size, J joints.
"""

import tensorflow as tf


def decode_keypoints(maps, quarter_offset=True):
    """Per-joint arg-max, shifted a quarter pixel toward the higher neighbour.

    The shift (Newell et al. 2016; Xiao et al. 2018) halves the quantisation
    error of the arg-max on smooth maps. It is applied per axis, only where
    both neighbours exist and differ.

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
    index = tf.argmax(flat, axis=-1, output_type=tf.int32)
    scores = tf.reduce_max(flat, axis=-1)
    rows, cols = index // width, index % width
    x, y = tf.cast(cols, tf.float32), tf.cast(rows, tf.float32)
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
    return tf.stack([x, y], axis=-1), scores
