"""The graph every deployment format holds: one photo in, keypoints, scores and maps out.

`PoseGraph(model)` is a `tf.Module` whose `whole_image` function takes one
uint8 photo `[1, H, W, 3]` of any size and returns

- `keypoints` `[1, J, 2]` (x, y) in the photo's pixels, `scores` `[1, J]`:
  the whole-image path of `mdn-tf predict` (crop, network, voting, flip
  test, decoding), and
- `maps` `[1, h, w, J]`: the final maps of the crop, for users who decode
  themselves.

Everything is built from operations every converter maps (matrix products,
ranges, elementwise maths, gathers, argmax) and the stock TensorFlow voting
(`pure_tensorflow()`: segment sums and maxima), never the compiled op. The
crop is the same bilinear resampling as the `.keras` path's
`ImageProjectiveTransformV3`: the whole-image box is axis-aligned, so the warp
separates into a row and a column interpolation matrix, built in the graph
from the photo's size as tent functions max(0, 1 - |source - pixel|).
Keypoints therefore agree with `PosePredictor` on the `.keras` model.
"""

import tensorflow as tf

from mdn_tf.inference.decode import decode_keypoints
from mdn_tf.inference.flip_test import flip_test_maps
from mdn_tf.inference.predict import BOX_PADDING, maps_to_image, whole_image_box
from mdn_tf.ops.mass_displacement import pure_tensorflow


def whole_image_to_image(height, width, input_size, padding=BOX_PADDING):
    """The crop -> image matrix `[2, 3]` of the whole-image box, in closed form.

    `transforms.affine_matrix` and `invert_affine` for an axis-aligned box
    (no rotation, no flip) written out, so the graph needs no matrix inverse
    or trigonometry (TFLite has no builtin MatrixInverse).
    """
    input_height, input_width = float(input_size[0]), float(input_size[1])
    x, y, w, h = whole_image_box(height, width, padding)
    center_x, center_y = x + 0.5 * w, y + 0.5 * h
    box_width = tf.maximum(w * padding, h * padding * input_width / input_height)
    box_height = box_width * input_height / input_width
    # image -> crop: crop = s * image + t, per axis; crop -> image: (crop - t) / s.
    scale_x, scale_y = input_width / box_width, input_height / box_height
    shift_x = (input_width - 1.0) / 2.0 - scale_x * center_x
    shift_y = (input_height - 1.0) / 2.0 - scale_y * center_y
    zero = tf.zeros_like(scale_x)
    return tf.stack([tf.stack([1.0 / scale_x, zero, -shift_x / scale_x]),
                     tf.stack([zero, 1.0 / scale_y, -shift_y / scale_y])])


def interpolation_matrix(scale, offset, output_length, input_length):
    """`[output_length, input_length]` bilinear weights sampling the input at scale * o + offset.

    Pixel centres at integers, zero outside the input: the conventions of
    `ImageProjectiveTransformV3(interpolation="BILINEAR", fill_mode="CONSTANT")`.
    """
    source = scale * tf.range(output_length, dtype=tf.float32) + offset
    pixels = tf.range(input_length, dtype=tf.float32)
    return tf.nn.relu(1.0 - tf.abs(source[:, None] - pixels[None, :]))


class PoseGraph(tf.Module):
    """The deployable inference graph of a pose model, for photos of any size.

    Args:
        model: a pose model (`build_pose_model`), images `[B, h, w, 3]` in
            [0, 1] -> dict with "final" maps.
        flip_permutation: `[J]` left/right permutation for the flip test, or
            None without it.
        quarter_offset: quarter-pixel decoding refinement. Defaults to True.
        padding: person-box enlargement. Defaults to 1.25.
    """

    def __init__(self, model, flip_permutation=None, quarter_offset=True, padding=BOX_PADDING):
        super().__init__(name="pose_graph")
        self.model = model
        self.input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
        self.flip_permutation = None if flip_permutation is None else list(flip_permutation)
        self.quarter_offset = quarter_offset
        self.padding = padding
        self.whole_image = tf.function(
            self._whole_image,
            input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="image")],
        )

    def crop(self, image):
        """`[1, H, W, 3]` uint8 -> `[1, h, w, 3]` float32 crop in [0, 1] and its crop -> image matrix."""
        shape = tf.shape(image)
        height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        to_image = whole_image_to_image(height, width, self.input_size, self.padding)
        # Crop row y samples photo row to_image[1, 1] * y + to_image[1, 2]; columns alike.
        rows = interpolation_matrix(to_image[1, 1], to_image[1, 2], self.input_size[0], shape[1])
        columns = interpolation_matrix(to_image[0, 0], to_image[0, 2], self.input_size[1],
                                       shape[2])
        pixels = tf.cast(image[0], tf.float32) * (1.0 / 255.0)
        channels = tf.transpose(pixels, [2, 0, 1])  # [3, H, W]
        crop = tf.matmul(tf.matmul(tf.tile(rows[None], [3, 1, 1]), channels),
                         tf.tile(tf.transpose(columns)[None], [3, 1, 1]))
        return tf.transpose(crop, [1, 2, 0])[None], to_image

    def _whole_image(self, image):
        crop, to_image = self.crop(image)

        def predict_maps(images):
            return tf.cast(self.model(images, training=False)["final"], tf.float32)

        with pure_tensorflow():
            if self.flip_permutation is None:
                maps = predict_maps(crop)
            else:
                maps = flip_test_maps(predict_maps, crop, self.flip_permutation)
        stride = float(self.input_size[1]) / float(maps.shape[2])
        keypoints, scores = decode_keypoints(maps, self.quarter_offset)
        keypoints = maps_to_image(keypoints, to_image[None], stride)
        return {"keypoints": keypoints, "scores": scores, "maps": maps}
