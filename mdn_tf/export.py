"""SavedModel export for stock TF Serving.

The exported graph holds the whole inference path: uint8 images and person
boxes in, keypoints in image pixels and their scores out (crop, network,
voting, optional flip test, decoding). It is traced under
`pure_tensorflow()`, so voting uses stock TensorFlow ops only and a
`tensorflow_model_server` (or any process that never imports mdn_tf) can
load it: a SavedModel holding the compiled op would fail there with
"Op type not registered".

Signatures:
- `serving_default`: images `[N, H, W, 3]` uint8 (any H, W; row n holds
  person n) and boxes `[N, 4]` float32 (x, y, w, h) -> keypoints
  `[N, J, 2]` (x, y) in image pixels and scores `[N, J]`.
- `whole_image`: images only; each box covers the whole image.
"""

import os

import keras
import tensorflow as tf

from mdn_tf.inference.predict import BOX_PADDING, crop_people, predict_keypoints
from mdn_tf.ops.mass_displacement import pure_tensorflow
from mdn_tf.skeleton import get_skeleton


class _PoseServer(tf.Module):
    """Holds the model's variables and the serving functions."""

    def __init__(self, model, input_size, flip_permutation, quarter_offset, padding):
        super().__init__(name="pose_server")
        self.model = model
        self._input_size = tuple(int(v) for v in input_size)
        # Saved with the model so that clients can read the crop size.
        self.input_size = tf.Variable(self._input_size, trainable=False, dtype=tf.int32,
                                      name="input_size")
        self._flip_permutation = flip_permutation
        self._quarter_offset = quarter_offset
        self._padding = padding

    def keypoints(self, images, boxes):
        crops, inverse = crop_people(images, boxes, self._input_size, self._padding)
        keypoints, scores = predict_keypoints(
            self.model, crops, inverse, self._flip_permutation, self._quarter_offset
        )
        return {"keypoints": keypoints, "scores": scores}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
            tf.TensorSpec([None, 4], tf.float32, name="boxes"),
        ]
    )
    def serve(self, images, boxes):
        return self.keypoints(images, boxes)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve_whole_image(self, images):
        shape = tf.cast(tf.shape(images), tf.float32)
        # A box covering the image, shrunk so that the 1.25 padding brings the
        # crop back to the image size.
        size = tf.stack([shape[2], shape[1]]) / self._padding
        origin = 0.5 * (tf.stack([shape[2], shape[1]]) - size)
        boxes = tf.tile(tf.concat([origin, size], 0)[None], [tf.shape(images)[0], 1])
        return self.keypoints(images, boxes)


def export_saved_model(model, path, skeleton=None, flip_test=True, quarter_offset=True,
                       padding=BOX_PADDING):
    """Writes a SavedModel that stock TF Serving can load.

    Args:
        model: a pose model from `mdn_tf.models.build_pose_model` (images
            `[B, h, w, 3]` in [0, 1] -> dict with "final" maps), or the path
            of a `.keras` file.
        path: output folder.
        skeleton: "mpii", "coco" or a `Skeleton`; needed for the flip test.
            Defaults to None (inferred from J: 16 MPII, 17 COCO).
        flip_test: average with the mirrored crop inside the graph. Defaults
            to True.
        quarter_offset: quarter-pixel decoding refinement. Defaults to True.
        padding: person-box enlargement before cropping. Defaults to 1.25.

    Returns:
        `path`.

    Raises:
        ValueError: the model has no fixed input size or no "final" output,
            or the skeleton cannot be inferred for the flip test.
    """
    if isinstance(model, (str, os.PathLike)):
        model = keras.models.load_model(model)
    input_shape = tuple(model.inputs[0].shape[1:3])
    if None in input_shape:
        raise ValueError(
            "model must have a fixed input size (height, width) to crop people to. "
            f"Received: input shape {tuple(model.inputs[0].shape)}"
        )
    output_names = list(model.output.keys()) if isinstance(model.output, dict) else []
    if "final" not in output_names:
        raise ValueError(
            f'model must return a dict with a "final" output. Received outputs: {output_names}'
        )
    flip_permutation = None
    if flip_test:
        num_joints = int(model.output["final"].shape[-1])
        if skeleton is None:
            skeleton = {16: "mpii", 17: "coco"}.get(num_joints)
        if skeleton is None:
            raise ValueError(
                "the flip test needs a skeleton; pass skeleton=... or flip_test=False. "
                f"Received: skeleton=None for J={num_joints}"
            )
        flip_permutation = get_skeleton(skeleton).flip_permutation()
    server = _PoseServer(model, input_shape, flip_permutation, quarter_offset, padding)
    path = os.fspath(path)
    with pure_tensorflow():
        signatures = {
            "serving_default": server.serve.get_concrete_function(),
            "whole_image": server.serve_whole_image.get_concrete_function(),
        }
        tf.saved_model.save(server, path, signatures=signatures)
    return path
