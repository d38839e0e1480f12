"""COCO person-keypoint reader (through pycocotools): one record per person box.

Keypoints stay in COCO's pixel coordinates, which are already 0-based (pixel
(row i, col j) is the point (x=j, y=i)); joint order is
`mdn_tf.skeleton.COCO`. A box becomes a crop as in the top-down literature
(Xiao et al. 2018): centred on the box, widened or heightened to the input's
aspect ratio, then enlarged by 1.25.

Shapes: N records, J = 17 keypoints.
"""

import contextlib
import io
import json
import os

import numpy as np

from mdn_tf.data.records import PIXELS_PER_SCALE, make_record
from mdn_tf.skeleton import COCO

BOX_PADDING = 1.25
PERSON_CATEGORY = 1


def load_annotations(
    annotation_file,
    detections=None,
    score_threshold=0.0,
    image_dir=None,
    input_size=(256, 192),
):
    """Reads COCO people from ground-truth boxes or from detector results.

    Args:
        annotation_file: a `person_keypoints_*.json` file.
        detections: optional detector-results JSON (a list of `image_id`,
            `bbox` [x, y, w, h], `score`, `category_id`). When given, one
            record per person detection scoring at least `score_threshold`,
            with empty keypoints (for evaluation). When None, one record per
            ground-truth person, skipping crowd and zero-keypoint people (for
            training). Defaults to None.
        score_threshold: minimum detection score kept. Defaults to 0.0.
        image_dir: folder of the images. Defaults to the annotation file's folder.
        input_size: `(height, width)` of the network input; crop boxes take
            its aspect ratio. Defaults to (256, 192).

    Returns:
        A list of `PoseRecord` with keypoints `[17, 2]`, `image_id` the COCO
        image id and `score` the detection score (1.0 for ground truth).

    Raises:
        ValueError: naming the file and annotation for a missing field or a
            wrong keypoint count.
    """
    from pycocotools.coco import COCO as CocoApi  # imported late: only COCO users need it

    annotation_file = os.fspath(annotation_file)
    if image_dir is None:
        image_dir = os.path.dirname(os.path.abspath(annotation_file))
    aspect_ratio = float(input_size[1]) / float(input_size[0])
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco = CocoApi(annotation_file)
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{annotation_file}: not a COCO annotation file ({type(error).__name__}: {error})"
        ) from None
    if detections is not None:
        return _from_detections(coco, detections, score_threshold, image_dir, aspect_ratio)
    records = []
    for ann_id in sorted(coco.getAnnIds(catIds=[PERSON_CATEGORY])):
        source = f"{annotation_file}[annotation id {ann_id}]"
        record = annotation_record(coco.anns[ann_id], coco.imgs, source, image_dir, aspect_ratio)
        if record is not None:
            records.append(record)
    return records


def annotation_record(ann, images, source, image_dir, aspect_ratio):
    """One person annotation as a `PoseRecord`, or None when training skips it.

    Crowd annotations, people without an annotated keypoint and boxes with
    nothing left inside the image are skipped.

    Args:
        ann: the annotation dict.
        images: image id -> image dict (`file_name`, `width`, `height`).
        source: "file[annotation id N]" for error messages.
        image_dir: folder of the images.
        aspect_ratio: width / height of the network input.

    Raises:
        ValueError: naming `source` for a missing field, a wrong keypoint
            count, an unknown image id or a malformed box.
    """
    for field in ("image_id", "bbox", "keypoints"):
        if field not in ann:
            raise ValueError(f"{source}: missing field {field!r}. Received fields: {sorted(ann)}")
    try:
        keypoints = np.asarray(ann["keypoints"], dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: keypoints must be numbers. Received: {ann['keypoints']!r}") from None
    if keypoints.size != 3 * COCO.num_joints:
        raise ValueError(
            f"{source}: keypoints must hold {COCO.num_joints} (x, y, v) triples "
            f"({3 * COCO.num_joints} numbers). Received: {keypoints.size} numbers"
        )
    keypoints = keypoints.reshape(COCO.num_joints, 3)
    if ann.get("iscrowd", 0) or not np.any(keypoints[:, 2] > 0):
        return None
    if ann["image_id"] not in images:
        raise ValueError(f"{source}: image_id {ann['image_id']!r} is not among the file's images")
    image = images[ann["image_id"]]
    if not isinstance(image.get("file_name"), str):
        raise ValueError(f"{source}: image {ann['image_id']!r} has no file_name. "
                         f"Received fields: {sorted(image)}")
    box = _clean_box(source, ann["bbox"], image)
    if box is None:
        return None
    center, scale = box_to_center_scale(box, aspect_ratio)
    visible = (keypoints[:, 2] > 0).astype(np.float32)
    return make_record(
        source,
        COCO.num_joints,
        os.path.join(image_dir, image["file_name"]),
        center,
        scale,
        keypoints[:, :2] * visible[:, None],
        visible,
        image_id=int(ann["image_id"]),
    )


def box_to_center_scale(box, aspect_ratio, padding=BOX_PADDING):
    """Returns the crop centre `[2]` and scale `[2]` (w, h in 200 px) of an (x, y, w, h) box."""
    x, y, w, h = (float(v) for v in box)
    center = np.array([x + 0.5 * w, y + 0.5 * h], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    scale = np.array([w, h], dtype=np.float32) / PIXELS_PER_SCALE * padding
    return center, scale


def _image_info(coco, image_id, source):
    if image_id not in coco.imgs:
        raise ValueError(f"{source}: image_id {image_id!r} is not among the file's images")
    return coco.imgs[image_id]


def _clean_box(source, bbox, image):
    """Clips an (x, y, w, h) box to the image; None when nothing is left."""
    try:
        values = np.asarray(bbox, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        values = np.zeros(0)
    if values.size != 4 or not np.all(np.isfinite(values)):
        raise ValueError(f"{source}: bbox must be [x, y, w, h]. Received: {bbox!r}")
    x, y, w, h = values
    width, height = image.get("width"), image.get("height")
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0)) if width else x1 + max(0.0, w - 1.0)
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0)) if height else y1 + max(0.0, h - 1.0)
    if x2 < x1 or y2 < y1 or w <= 0 or h <= 0:
        return None
    return x1, y1, x2 - x1, y2 - y1


def _from_detections(coco, detections, score_threshold, image_dir, aspect_ratio):
    detections = os.fspath(detections)
    try:
        with open(detections, encoding="utf-8") as f:
            results = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{detections}: not valid JSON ({error})") from None
    if not isinstance(results, list):
        raise ValueError(
            f"{detections}: expected a JSON list of detections. Received: {type(results).__name__}"
        )
    records = []
    for index, det in enumerate(results):
        source = f"{detections}[{index}]"
        if not isinstance(det, dict):
            raise ValueError(f"{source}: expected a detection dict. Received: {det!r}")
        for field in ("image_id", "bbox", "score"):
            if field not in det:
                raise ValueError(f"{source}: missing field {field!r}. Received fields: {sorted(det)}")
        if det.get("category_id", PERSON_CATEGORY) != PERSON_CATEGORY:
            continue
        if float(det["score"]) < score_threshold:
            continue
        image = _image_info(coco, det["image_id"], source)
        box = _clean_box(source, det["bbox"], image)
        if box is None:
            continue
        center, scale = box_to_center_scale(box, aspect_ratio)
        records.append(
            make_record(
                source,
                COCO.num_joints,
                os.path.join(image_dir, image["file_name"]),
                center,
                scale,
                np.zeros((COCO.num_joints, 2)),
                np.zeros(COCO.num_joints),
                image_id=int(det["image_id"]),
                score=float(det["score"]),
            )
        )
    return records
