"""One photo and its person boxes -> keypoints, from a `.keras` file or any exported artefact.

Every kind of model answers the same call, so `mdn-tf predict` does not care
which it was given. A `.keras` model runs `crop_boxes` and
`predict_keypoints`, the code evaluation and export use; a SavedModel runs
its `serving_default` signature exactly as TF Serving would; a LiteRT,
ONNX or OpenVINO artefact (`mdn-tf export --format`) runs in its own
runtime (`mdn_tf.deploy.runtimes`) and takes whole photos (one person each).

Shapes: K person boxes on the photo, J joints.
"""

import os

import numpy as np

from mdn_tf.deploy.runtimes import WHOLE_PHOTO_FORMATS, artifact_format
from mdn_tf.deploy.runtimes import load as load_artifact
from mdn_tf.deploy.sidecar import read_sidecar, sidecar_path
from mdn_tf.skeleton import skeleton_for_model


class PosePredictor:
    """Keypoints for boxes on one photo.

    Args:
        path: a `.keras` file, a SavedModel folder, or a `.tflite`, `.onnx`,
            OpenVINO `.xml` or PyTorch `.pt2` artefact (from `mdn-tf export`).
        skeleton: "mpii" or "coco"; the joint names and the flip test's
            left/right pairs. Defaults to None (from J: 16 MPII, 17 COCO).
        flip_test: average with the mirrored crop (`.keras` only; a
            SavedModel runs what it was exported with). Defaults to True.
        quarter_offset: quarter-pixel decoding refinement (`.keras` only).
            Defaults to True.

    Attributes:
        kind: "keras", "saved_model", "litert", "onnx", "openvino" or "torch".
        skeleton: the `Skeleton` of the model's joints.
        input_size: `(height, width)` of the network input.

    Raises:
        ValueError: the model file is missing or unusable, or the skeleton
            does not fit the model's joint count.
    """

    def __init__(self, path, skeleton=None, flip_test=True, quarter_offset=True):
        path = os.fspath(path)
        self.path = path
        self._tf = None
        if artifact_format(path) in WHOLE_PHOTO_FORMATS:
            self.kind = artifact_format(path)
            self._runner = load_artifact(path)
            description = read_sidecar(path)
            if description is None:
                raise ValueError(f"model {path} must have its sidecar {sidecar_path(path)} "
                                 "(written by `mdn-tf export`) beside it")
            self.input_size = tuple(description["network_input_size"])
            self.skeleton = skeleton_for_model(skeleton or description["skeleton"],
                                              len(description["joint_names"]))
            return
        import tensorflow as tf

        if os.path.isdir(path):
            self.kind = "saved_model"
            self._serve, num_joints, self.input_size = _load_saved_model(path)
        elif os.path.isfile(path):
            import keras

            import mdn_tf.models  # noqa: F401  (registers the layers .keras files refer to)

            self.kind = "keras"
            model = keras.models.load_model(path)
            if not isinstance(model.output, dict) or "final" not in model.output:
                raise ValueError(f'model must return a dict with a "final" output. '
                                 f"Received: {path} with outputs {model.output_names}")
            self.input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
            num_joints = int(model.output["final"].shape[-1])
        else:
            raise ValueError(f"model must be a .keras file or a SavedModel folder. "
                             f"Received: {path} (no such file or folder)")
        self.skeleton = skeleton_for_model(skeleton, num_joints)
        if self.kind == "keras":
            flip_permutation = self.skeleton.flip_permutation() if flip_test else None
            self._serve = _keras_function(model, self.input_size, flip_permutation,
                                          quarter_offset)
        self._tf = tf

    def __call__(self, image, boxes):
        """Keypoints of the people in `boxes` on `image`.

        Args:
            image: `[H, W, 3]` uint8.
            boxes: `[K, 4]` (x, y, w, h) in image pixels.

        Returns:
            keypoints `[K, J, 2]` (x, y) in image pixels and scores `[K, J]`,
            float32 NumPy arrays.
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if self.kind in WHOLE_PHOTO_FORMATS:
            return self._whole_image(np.asarray(image, np.uint8), boxes)
        tf = self._tf
        if len(boxes) == 0:  # the network cannot run on an empty batch
            num_joints = self.skeleton.num_joints
            return np.zeros((0, num_joints, 2), np.float32), np.zeros((0, num_joints), np.float32)
        out = self._serve(images=tf.constant(np.asarray(image, np.uint8)[None]),
                          boxes=tf.constant(boxes),
                          box_indices=tf.zeros([len(boxes)], tf.int32))
        return out["keypoints"].numpy(), out["scores"].numpy()


    def _whole_image(self, image, boxes):
        from mdn_tf.inference.geometry import whole_image_box

        whole = np.asarray([whole_image_box(*image.shape[:2])], np.float32)
        if boxes.shape != whole.shape or not np.allclose(boxes, whole, atol=1e-3):
            raise ValueError(
                f"a {self.kind} model takes whole photos (one person filling each); person "
                "boxes need the .keras model or a SavedModel. Received: "
                f"{len(boxes)} box(es) {boxes.round(1).tolist()}")
        out = self._runner(image)
        return out["keypoints"][None], out["scores"][None]


def _load_saved_model(path):
    import tensorflow as tf

    try:
        saved = tf.saved_model.load(path)
    except (OSError, tf.errors.OpError) as error:
        raise ValueError(f"cannot load SavedModel {path}: "
                         f"{str(error).strip().splitlines()[0]}") from None
    serve = saved.signatures.get("serving_default")
    inputs = serve.structured_input_signature[1] if serve is not None else {}
    if set(inputs) != {"images", "boxes", "box_indices"}:
        raise ValueError(
            f"SavedModel {path} must have a serving_default signature taking images, boxes "
            f"and box_indices (as `mdn-tf export` writes). Received inputs: {sorted(inputs)}; "
            "re-export the .keras model with `mdn-tf export`")
    num_joints = int(serve.structured_outputs["keypoints"].shape[1])
    return serve, num_joints, tuple(int(v) for v in saved.input_size.numpy())


def _keras_function(model, input_size, flip_permutation, quarter_offset):
    import tensorflow as tf

    from mdn_tf.inference.predict import crop_boxes, predict_keypoints

    # One trace for every photo size and box count, as in the exported graph.
    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8),
        tf.TensorSpec([None, 4], tf.float32),
        tf.TensorSpec([None], tf.int32),
    ])
    def serve(images, boxes, box_indices):
        crops, inverse = crop_boxes(images, boxes, box_indices, input_size)
        keypoints, scores = predict_keypoints(model, crops, inverse, flip_permutation,
                                              quarter_offset)
        return {"keypoints": keypoints, "scores": scores}

    return serve
