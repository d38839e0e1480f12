"""The TensorFlow graph of the whole-image path, for SavedModel, LiteRT, ONNX and OpenVINO.

`PoseGraph(model)` is a `tf.Module` whose `whole_image` function takes one
uint8 photo `[1, H, W, 3]` of any size and returns keypoints `[1, J, 2]`,
scores `[1, J]` and the final maps `[1, h, w, J]`: `whole_image.py`'s
`whole_image_pose`, traced on TensorFlow with the stock TensorFlow voting
(`pure_tensorflow()`: segment sums and maxima), never the compiled op.
Keypoints therefore agree with `PosePredictor` on the `.keras` model.
"""

import tensorflow as tf

from mdn_tf.deploy.whole_image import crop_whole_image, whole_image_pose
from mdn_tf.inference.geometry import BOX_PADDING
from mdn_tf.ops.mass_displacement import pure_tensorflow


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
        return crop_whole_image(image, self.input_size, self.padding)

    def _whole_image(self, image):
        def predict_maps(images):
            return tf.cast(self.model(images, training=False)["final"], tf.float32)

        with pure_tensorflow():
            return whole_image_pose(predict_maps, image, self.input_size, self.flip_permutation,
                                    self.quarter_offset, self.padding)
