"""Inference: decoding, flip test and geometry (`keras.ops`), images + boxes -> keypoints (TF).

`decode`, `flip_test` and `geometry` run on every Keras backend (the PyTorch
artefact is traced from them); `predict` (person crops, `predict_keypoints`)
is TensorFlow's and is imported on first use, so this package imports
without TensorFlow.
"""

from mdn_tf.inference.decode import decode_keypoints
from mdn_tf.inference.flip_test import flip_test_maps, unflip_maps
from mdn_tf.inference.geometry import maps_to_image, whole_image_box

_TENSORFLOW_NAMES = ("crop_boxes", "crop_people", "predict_keypoints")


def __getattr__(name):
    if name in _TENSORFLOW_NAMES:
        from mdn_tf.inference import predict

        return getattr(predict, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "crop_boxes",
    "crop_people",
    "decode_keypoints",
    "flip_test_maps",
    "maps_to_image",
    "predict_keypoints",
    "unflip_maps",
    "whole_image_box",
]
