"""SavedModel export for stock TF Serving.

The exported graph holds the whole inference path: uint8 images and person
boxes in, keypoints in image pixels and their scores out (crop, network,
voting, optional flip test, decoding). It is traced under
`pure_tensorflow()`, so voting uses stock TensorFlow ops only and a
`tensorflow_model_server` (or any process that never imports mdn_tf) can
load it: a SavedModel holding the compiled op would fail there with
"Op type not registered".

Signatures:
- `serving_default`, in the layout of `tf.image.crop_and_resize`: images
  `[N, H, W, 3]` uint8, boxes `[K, 4]` float32 (x, y, w, h) in image pixels
  and box_indices `[K]` int32 (the image row of each box) -> keypoints
  `[K, J, 2]` (x, y) in image pixels, scores `[K, J]` and the final maps
  `[K, h, w, J]` of the crops (flip-averaged), for clients that decode
  themselves. A photo with three
  people is sent once, with three boxes pointing at it. The signature checks
  in-graph that box_indices lie in [0, N), that there is one index per box
  and that boxes are finite with positive width and height.
- `whole_image`: images only; each box covers the whole image.

Photos of different sizes cannot share the `images` tensor. Send them in
separate requests, or pad each to the largest height and width with zeros
at the bottom and right, keeping the boxes in each photo's own pixel
coordinates: the crops read zeros outside a photo either way, so padded and
unpadded photos give identical keypoints (tested). `whole_image` would see
the padding, so it takes one size per request.
"""

import os

import keras
import tensorflow as tf

from mdn_tf.inference.geometry import BOX_PADDING, whole_image_box
from mdn_tf.inference.predict import crop_boxes, predict_keypoints
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
        self._map_shape = [int(v) for v in model.output["final"].shape[1:]]  # [h, w, J]

    def keypoints(self, images, boxes, box_indices):
        def predict():
            crops, inverse = crop_boxes(images, boxes, box_indices, self._input_size,
                                        self._padding)
            return predict_keypoints(self.model, crops, inverse, self._flip_permutation,
                                     self._quarter_offset, return_maps=True)

        def nobody():
            # A photo where the detector found no one is an ordinary request;
            # the network itself cannot run on an empty batch.
            num_joints = self._map_shape[-1]
            return (tf.zeros([0, num_joints, 2]), tf.zeros([0, num_joints]),
                    tf.zeros([0] + self._map_shape))

        keypoints, scores, maps = tf.cond(tf.shape(boxes)[0] > 0, predict, nobody)
        return {"keypoints": keypoints, "scores": scores, "maps": maps}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
            tf.TensorSpec([None, 4], tf.float32, name="boxes"),
            tf.TensorSpec([None], tf.int32, name="box_indices"),
        ]
    )
    def serve(self, images, boxes, box_indices):
        # A bad index would otherwise fail deep inside the crop loop (or, on a
        # GPU, gather zeros silently); TF Serving answers with these messages.
        with tf.control_dependencies(_check_boxes(images, boxes, box_indices)):
            return self.keypoints(images, boxes, box_indices)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve_whole_image(self, images):
        shape = tf.cast(tf.shape(images), tf.float32)
        box = tf.stack(whole_image_box(shape[1], shape[2], self._padding))
        boxes = tf.tile(box[None], [tf.shape(images)[0], 1])
        return self.keypoints(images, boxes, tf.range(tf.shape(images)[0]))


def _check_boxes(images, boxes, box_indices):
    """In-graph checks of a serving request; their messages reach the client."""
    num_images = tf.shape(images)[0]
    num_boxes = tf.shape(boxes)[0]
    num_indices = tf.shape(box_indices)[0]
    in_range = tf.reduce_all((box_indices >= 0) & (box_indices < num_images))
    usable = tf.reduce_all(tf.math.is_finite(boxes)) & tf.reduce_all(boxes[:, 2:] > 0.0)
    return [
        tf.debugging.Assert(
            tf.equal(num_indices, num_boxes),
            ["box_indices must hold one image index per box (K = rows of boxes). Received:",
             num_indices, "box_indices for", num_boxes, "boxes"],
        ),
        tf.debugging.Assert(
            in_range,
            ["box_indices must lie in [0, N), N = number of images; N =", num_images,
             "Received: box_indices =", box_indices],
            summarize=100,
        ),
        tf.debugging.Assert(
            usable,
            ["boxes must be finite (x, y, w, h) with w > 0 and h > 0. Received: boxes =", boxes],
            summarize=100,
        ),
    ]


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
