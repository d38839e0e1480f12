"""Which person boxes `mdn-tf predict` runs on each photo (--box, --boxes-json).

- No boxes: each photo is one person filling it (the `whole_image` rule).
- `--box x,y,w,h`, repeated: the same boxes on every photo given; meant for
  one photo with several people, or frames of a fixed camera.
- `--boxes-json FILE`: `{"IMAGE": [[x, y, w, h], ...], ...}` for boxes per
  photo, keyed by the IMAGE as given on the command line or its file name.
  Every photo needs an entry (`[]`: nobody on it) and every entry a photo,
  so a typo in either is an error rather than a silent whole-image guess.

Boxes are in image pixels: x, y the top-left corner, w, h the size.
"""

import argparse
import json
import math
import os

from mdn_tf.cli._common import UserError

BOX_FORMAT = "x,y,w,h (four numbers in image pixels, w > 0 and h > 0)"


def parse_box(text):
    """argparse `type` of --box: "x,y,w,h" -> [x, y, w, h]."""
    try:
        box = _check_numbers([float(v) for v in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {BOX_FORMAT}. Received: {text!r}") from None
    return box


def _check_numbers(values):
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or min(values[2:]) <= 0:
        raise ValueError(values)
    return values


def load_boxes_json(path):
    """Reads a --boxes-json file into {key: [[x, y, w, h], ...]}."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as error:
        raise UserError(f"--boxes-json must be a readable JSON file. Received: {path} "
                        f"({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise UserError(f"--boxes-json {path} is not valid JSON: {error}") from None
    if not isinstance(entries, dict):
        raise UserError(f'--boxes-json {path} must map each image to its boxes, '
                        f'{{"IMAGE": [[x, y, w, h], ...]}}. Received: a {type(entries).__name__}')
    boxes = {}
    for key, value in entries.items():
        try:
            if not isinstance(value, list):
                raise ValueError(value)
            boxes[key] = [_check_numbers([float(v) for v in box]) for box in value]
        except (TypeError, ValueError):
            raise UserError(f"--boxes-json {path}: entry {key!r} must be a list of boxes "
                            f"{BOX_FORMAT}. Received: {json.dumps(value)[:200]}") from None
    return boxes


def boxes_per_image(images, boxes=None, boxes_json=None):
    """The boxes of each image: a list (one per image) of box lists, None for whole image."""
    if boxes and boxes_json:
        raise UserError("give either --box (the same boxes on every image) or --boxes-json "
                        "(boxes per image), not both")
    if boxes_json is None:
        return [list(boxes) if boxes else None for _ in images]
    entries = load_boxes_json(boxes_json)
    used, result = set(), []
    for image in images:
        key = next((k for k in (image, os.path.normpath(image), os.path.basename(image))
                    if k in entries), None)
        if key is None:
            raise UserError(f"--boxes-json {boxes_json} has no entry for image {image} "
                            f"(keys are the image as given or its file name; [] for nobody)")
        used.add(key)
        result.append(entries[key])
    unused = [key for key in entries if key not in used]
    if unused:
        raise UserError(f"--boxes-json {boxes_json} has entries for images not given on the "
                        f"command line: {', '.join(unused[:5])}")
    return result


def check_boxes_on_image(boxes, image_path, image_shape):
    """A box wholly outside its photo is a mistake (wrong photo or wrong units)."""
    height, width = image_shape[:2]
    for x, y, w, h in boxes:
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise UserError(
                f"box {x:g},{y:g},{w:g},{h:g} lies outside image {image_path} "
                f"({width}x{height} pixels); boxes are x,y,w,h in that image's pixels")
