"""The JSON written beside every artefact: what goes in, what comes out, how to read it.

A deployment runtime knows tensors, not poses. `<artefact>.json` tells a
user (or `runtimes.load`) the input layout, the network's input size, the
joint names and skeleton, the output order (LiteRT names its outputs
Identity, Identity_1, ...) and the decoding convention, so the artefact can
be used without mdn_tf.
"""

import json
import os

SIDECAR_VERSION = 1
# Outputs of PoseGraph.whole_image, in the order converters flatten them.
OUTPUTS = ("keypoints", "maps", "scores")
DECODING = (
    "keypoints: (x, y) in the photo's pixels, pixel centres at integers; the argmax of each "
    "final map with a quarter-pixel step towards the higher neighbour, mapped back through the "
    "whole-image crop (the photo enlarged to the network's aspect ratio, centred, padding "
    "{padding}). scores: the final map's value at the argmax (a probability for noisy-OR and "
    "max; a vote mass for additive). maps: the final maps of the crop, [1, h, w, J], stride "
    "{stride} to the network input."
)


def sidecar_path(artifact):
    """`model.tflite` -> `model.json`; a SavedModel folder -> `<folder>/mdn_tf.json`."""
    artifact = os.fspath(artifact)
    if os.path.isdir(artifact):
        return os.path.join(artifact, "mdn_tf.json")
    return os.path.splitext(artifact)[0] + ".json"


def describe(model, fmt, skeleton, flip_test, quarter_offset, padding, quantization=None):
    """The sidecar dict of `model` (a pose model) exported as `fmt`."""
    from mdn_tf import __version__

    input_height, input_width = (int(v) for v in model.inputs[0].shape[1:3])
    final = model.output["final"]
    map_height, map_width, num_joints = (int(v) for v in final.shape[1:4])
    layer = model.get_layer("final").get_config()
    return {
        "sidecar_version": SIDECAR_VERSION,
        "mdn_tf_version": __version__,
        "format": fmt,
        "quantization": quantization,
        "input": {"name": "image", "dtype": "uint8", "shape": [1, "H", "W", 3],
                  "layout": "one RGB photo, NHWC, any height and width"},
        "outputs": {
            "keypoints": {"shape": [1, num_joints, 2], "dtype": "float32"},
            "maps": {"shape": [1, map_height, map_width, num_joints], "dtype": "float32"},
            "scores": {"shape": [1, num_joints], "dtype": "float32"},
        },
        "output_order": list(OUTPUTS),
        "network_input_size": [input_height, input_width],
        "map_size": [map_height, map_width],
        "skeleton": skeleton.name,
        "joint_names": list(skeleton.joint_names),
        "limbs": [list(limb) for limb in skeleton.limbs],
        "flip_test": bool(flip_test),
        "quarter_offset": bool(quarter_offset),
        "box_padding": padding,
        "voting": {key: layer.get(key) for key in
                   ("combine", "kernel", "kernel_size", "sigma", "edges", "num_targets")
                   if key in layer},
        "decoding": DECODING.format(padding=padding, stride=input_width // map_width),
    }


def write_sidecar(artifact, description):
    """Writes `description` beside `artifact`; returns the sidecar's path."""
    path = sidecar_path(artifact)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(description, f, indent=1)
    return path


def read_sidecar(artifact):
    """The sidecar dict of `artifact`, or None when it has none."""
    path = sidecar_path(artifact)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
