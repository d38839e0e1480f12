"""The JSON file `mdn-tf predict` writes for each photo: people, boxes, keypoints, scores.

Layout (one file per photo):

    {
      "image": "photos/team.jpg", "width": 1280, "height": 720,
      "model": "runs/mpii/model.keras", "skeleton": "mpii",
      "joint_names": ["r_ankle", "r_knee", ...],
      "people": [
        {"box": [412.0, 120.0, 180.0, 390.0], "whole_image": false,
         "keypoints": [[501.2, 487.9], ...],      # [J, 2] (x, y) image pixels
         "scores": [0.83, ...]}                   # [J] peak map values
      ]
    }

Coordinates are image pixels with pixel (row i, col j) centred at (x=j, y=i),
the convention of the whole package. Small arrays are written on one line
and each keypoint on its own, so the file reads well in an editor.
"""

import json

import numpy as np

KEYPOINT_DECIMALS = 3  # a thousandth of a pixel: far below the decoder's precision
SCORE_DECIMALS = 5


def pose_result(image_path, image_shape, boxes, keypoints, scores, skeleton, model_path,
                whole_image=False):
    """The JSON-ready dict of one photo's predictions.

    Args:
        image_path: the photo, as the user named it.
        image_shape: `(H, W, ...)` of the photo.
        boxes: `[K, 4]` (x, y, w, h) person boxes.
        keypoints: `[K, J, 2]` (x, y) in image pixels.
        scores: `[K, J]` keypoint scores.
        skeleton: the `Skeleton` naming the J joints.
        model_path: the model file or folder.
        whole_image: the boxes were not given (each covers the photo).
            Defaults to False.
    """
    people = [
        {
            "box": [round(float(v), KEYPOINT_DECIMALS) for v in box],
            "whole_image": bool(whole_image),
            "keypoints": np.round(np.asarray(person, np.float64), KEYPOINT_DECIMALS).tolist(),
            "scores": np.round(np.asarray(person_scores, np.float64), SCORE_DECIMALS).tolist(),
        }
        for box, person, person_scores in zip(boxes, keypoints, scores)
    ]
    return {
        "image": str(image_path),
        "width": int(image_shape[1]),
        "height": int(image_shape[0]),
        "model": str(model_path),
        "skeleton": skeleton.name,
        "joint_names": list(skeleton.joint_names),
        "people": people,
    }


def write_pose_json(path, result):
    """Writes `result` (from `pose_result`) to `path`, readably indented."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(_format(result) + "\n")


def read_pose_json(path):
    """The dict `write_pose_json` wrote, with keypoints and scores as NumPy arrays."""
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    for person in result["people"]:
        person["keypoints"] = np.asarray(person["keypoints"], np.float64).reshape(-1, 2)
        person["scores"] = np.asarray(person["scores"], np.float64)
    return result


def _format(value, indent=0):
    """JSON with dicts one key a line, lists of lists one item a line, flat lists inline."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(key)}: {_format(item, indent + 2)}"
                 for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}" if items else "{}"
    if isinstance(value, list) and any(isinstance(item, (list, dict)) for item in value):
        items = [f"{inner}{_format(item, indent + 2)}" for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)
