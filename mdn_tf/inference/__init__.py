"""Inference: decoding, flip test, and images + boxes -> keypoints (TF ops only)."""

from mdn_tf.inference.decode import decode_keypoints
from mdn_tf.inference.flip_test import flip_test_maps, unflip_maps
from mdn_tf.inference.predict import (
    crop_boxes,
    crop_people,
    maps_to_image,
    predict_keypoints,
    whole_image_box,
)

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
