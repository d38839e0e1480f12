"""Keypoints from final maps: arg-max with the customary quarter-pixel shift.

In `keras.ops` only, so the same code runs eagerly, in evaluation, inside
exported SavedModels and in every deployment artefact (LiteRT, ONNX,
OpenVINO, and the PyTorch ExportedProgram traced on Keras's PyTorch
backend). The arg-max is written as "the first index holding the maximum"
(a max, an equality and a min) rather than a backend's argmax, so every
backend and converter picks the same pixel. Coordinates are map pixels with
pixel (row i, col j) at (x=j, y=i).

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

Shapes: N people, H x W map size, J joints. N, H and W may be unknown until
run time under TensorFlow.
"""

import numpy as np
from keras import ops

DECODE_VERSION = 2  # 1: raster-order arg-max on ties; 2: plateau centre
TIE_TOLERANCE = 1e-6  # relative to max(1, |peak|)
TIE_WINDOW = 4  # pixels each side of the chosen tied pixel averaged into the centroid
_DEPTH_SIGMA = 1.5  # pixels: the blur that measures how deep inside the tied set a pixel is


def _depth_kernel():
    radius = int(np.ceil(3 * _DEPTH_SIGMA))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / _DEPTH_SIGMA) ** 2)
    kernel = np.outer(taps, taps)
    return (kernel / kernel.sum())[:, :, None, None].astype(np.float32)


def first_argmax(values):
    """Index of the first maximum along the last axis, as int32.

    The same pixel `np.argmax` picks, from a max, an equality and a min that
    every backend and converter maps the same way.
    """
    size = ops.shape(values)[-1]
    positions = ops.arange(size, dtype="int32")
    at_peak = values >= ops.max(values, axis=-1, keepdims=True)
    return ops.min(ops.where(at_peak, positions, size), axis=-1)


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
    maps = ops.cast(ops.convert_to_tensor(maps), "float32")
    count, height, width, joints = ops.shape(maps)
    per_joint = ops.transpose(maps, (0, 3, 1, 2))  # [N, J, H, W]
    flat = ops.reshape(per_joint, (count, joints, height * width))
    scores = ops.max(flat, axis=-1)
    tolerance = TIE_TOLERANCE * ops.maximum(ops.abs(scores), 1.0)
    tied = ops.cast(flat >= (scores - tolerance)[..., None], "float32")  # [N, J, H*W]
    ties = ops.sum(tied, axis=-1) > 1.0
    # Depth inside the tied set: a blurred indicator, counted only on tied pixels.
    indicator = ops.reshape(tied, (count * joints, height, width, 1))
    depth = ops.conv(indicator, _depth_kernel(), strides=1, padding="same")
    depth = ops.reshape(depth, (count, joints, height * width))
    choice = ops.where(ties[..., None], ops.where(tied > 0, depth, -1.0), flat)
    index = first_argmax(choice)
    rows, cols = index // width, index % width
    x, y = ops.cast(cols, "float32"), ops.cast(rows, "float32")

    # Centroid of the tied pixels near the chosen one.
    grid = ops.arange(height * width, dtype="int32")
    grid_rows, grid_cols = grid // width, grid % width
    near = ops.logical_and(
        ops.abs(grid_rows[None, None, :] - rows[..., None]) <= TIE_WINDOW,
        ops.abs(grid_cols[None, None, :] - cols[..., None]) <= TIE_WINDOW)
    weights = tied * ops.cast(near, "float32")
    total = ops.sum(weights, axis=-1)
    centroid_x = ops.sum(weights * ops.cast(grid_cols, "float32"), axis=-1) / total
    centroid_y = ops.sum(weights * ops.cast(grid_rows, "float32"), axis=-1) / total

    if quarter_offset:

        def value_at(r, c):
            inside = ops.logical_and(ops.logical_and(r >= 0, r < height),
                                     ops.logical_and(c >= 0, c < width))
            safe = ops.clip(r, 0, height - 1) * width + ops.clip(c, 0, width - 1)
            return ops.take_along_axis(flat, safe[..., None], axis=-1)[..., 0], inside

        right, has_right = value_at(rows, cols + 1)
        left, has_left = value_at(rows, cols - 1)
        below, has_below = value_at(rows + 1, cols)
        above, has_above = value_at(rows - 1, cols)
        x = x + ops.where(ops.logical_and(has_left, has_right), 0.25 * ops.sign(right - left), 0.0)
        y = y + ops.where(ops.logical_and(has_above, has_below), 0.25 * ops.sign(below - above),
                          0.0)
    x = ops.where(ties, centroid_x, x)
    y = ops.where(ties, centroid_y, y)
    return ops.stack([x, y], axis=-1), scores
