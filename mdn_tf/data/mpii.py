"""MPII Human Pose readers: the official `.mat` release, the JSON layout, `gt_valid.mat`.

Both annotation formats store MATLAB 1-based pixel coordinates; `_to_record`
subtracts 1 once, so every record holds 0-based coordinates (pixel (row i,
col j) is the point (x=j, y=i)). Joint order is `mdn_tf.skeleton.MPII`.

Crop boxes get the customary adjustment of the MPII literature (Newell et al.
2016, Xiao et al. 2018): the annotated `objpos` sits near the belly, so the
centre moves down by 15 * scale pixels and the box grows by 1.25 to hold the
whole person. Records therefore carry `center = objpos + (0, 15 s) - 1` and
`scale = (1.25 s, 1.25 s)` (box side = 200 * scale pixels).

Shapes: N records, J = 16 joints.
"""

import json
import os

import numpy as np
import scipy.io

from mdn_tf.data.records import make_record
from mdn_tf.skeleton import MPII

CENTER_SHIFT = 15.0  # pixels per unit of scale, added to the centre's y
SCALE_FACTOR = 1.25
_JSON_FIELDS = ("image", "center", "scale", "joints", "joints_vis")


def load_annotations(path, image_dir=None, gt_file=None, adjust_box=True):
    """Reads MPII people from the official `.mat` release or the JSON layout.

    Args:
        path: `mpii_human_pose_v1_u12_1.mat` (the `RELEASE` struct) or a JSON
            file of person dicts (`image`, `center`, `scale`, `joints` 1-based
            with `[-1, -1]` for missing, `joints_vis`), e.g. the standard
            `valid.json` split of 2958 people.
        image_dir: folder of the images. Defaults to the annotation file's
            folder, or its sibling `images/` when that folder is `annot/`.
        gt_file: optional `gt_valid.mat` whose head boxes are attached to the
            records in row order (the JSON must then have the same rows).
            Defaults to None.
        adjust_box: apply the centre/scale adjustment described in the module
            docstring. Defaults to True.

    Returns:
        A list of `PoseRecord` with 0-based joints `[16, 2]`.

    Raises:
        ValueError: naming the file and record for a missing field, a wrong
            joint count or a non-numeric value.
    """
    path = os.fspath(path)
    if image_dir is None:
        image_dir = _default_image_dir(path)
    if path.endswith(".mat"):
        records = _load_release(path, image_dir, adjust_box)
    else:
        records = _load_json(path, image_dir, adjust_box)
    if gt_file is not None:
        boxes = load_head_boxes(gt_file)
        if len(boxes) != len(records):
            raise ValueError(
                f"{gt_file} has {len(boxes)} head boxes but {path} has "
                f"{len(records)} records; they must be the same rows"
            )
        for record, box in zip(records, boxes):
            record.head_box = box
    return records


def load_head_boxes(gt_file):
    """Reads the head boxes of `gt_valid.mat` as `[N, 4]` 0-based (x1, y1, x2, y2)."""
    return load_ground_truth(gt_file)["head_boxes"]


def load_ground_truth(gt_file):
    """Reads `gt_valid.mat`, the ground truth of the standard PCKh evaluation.

    Returns:
        A dict with "joints" `[N, 16, 2]` 0-based (x, y), "missing" `[N, 16]`
        bool (True = not annotated) and "head_boxes" `[N, 4]` 0-based
        (x1, y1, x2, y2).

    Raises:
        ValueError: when a key is missing or has an unexpected shape.
    """
    gt_file = os.fspath(gt_file)
    mat = scipy.io.loadmat(gt_file)
    for key in ("jnt_missing", "pos_gt_src", "headboxes_src"):
        if key not in mat:
            raise ValueError(
                f"{gt_file}: expected key {key!r} of a gt_valid.mat file. "
                f"Received keys: {sorted(k for k in mat if not k.startswith('__'))}"
            )
    missing, pos, boxes = mat["jnt_missing"], mat["pos_gt_src"], mat["headboxes_src"]
    num = missing.shape[-1]
    expected = {"jnt_missing": (16, num), "pos_gt_src": (16, 2, num), "headboxes_src": (2, 2, num)}
    for key, shape in expected.items():
        if mat[key].shape != shape:
            raise ValueError(
                f"{gt_file}: {key} must have shape {list(shape)}. "
                f"Received: shape {list(mat[key].shape)}"
            )
    return {
        "joints": np.transpose(pos, (2, 0, 1)).astype(np.float64) - 1.0,
        "missing": np.transpose(missing).astype(bool),
        # headboxes_src rows are (x1, y1) and (x2, y2).
        "head_boxes": np.transpose(boxes, (2, 0, 1)).reshape(num, 4).astype(np.float64) - 1.0,
    }


def _default_image_dir(path):
    folder = os.path.dirname(os.path.abspath(path))
    sibling = os.path.join(os.path.dirname(folder), "images")
    if os.path.basename(folder) == "annot" and os.path.isdir(sibling):
        return sibling
    return folder


def _to_record(source, image_path, center, scale, joints, visible, adjust_box, **extra):
    """Converts one person from MATLAB 1-based coordinates: the only place that does."""
    center = _as_array(source, "center", center, (2,))
    scale = float(scale)
    if adjust_box:
        center[1] += CENTER_SHIFT * scale
        scale *= SCALE_FACTOR
    joints = _as_array(source, "joints", joints, (MPII.num_joints, 2))
    visible = _as_array(source, "joints_vis", visible, (MPII.num_joints,))
    visible = np.where(np.all(joints == -1, axis=1), 0.0, visible)
    joints = np.where(visible[:, None] > 0, joints - 1.0, 0.0)
    return make_record(
        source, MPII.num_joints, image_path, center - 1.0, scale, joints, visible, **extra
    )


def _load_json(path, image_dir, adjust_box):
    try:
        with open(path, encoding="utf-8") as f:
            people = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(people, list):
        raise ValueError(
            f"{path}: expected a JSON list of MPII person dicts. "
            f"Received: {type(people).__name__}"
        )
    return [
        json_person_record(path, index, person, image_dir, adjust_box)
        for index, person in enumerate(people)
    ]


def json_person_record(path, index, person, image_dir, adjust_box=True):
    """One person dict of an MPII JSON file as a `PoseRecord` (what `load_annotations` reads).

    Raises:
        ValueError: "<path>[<index>]: <what is wrong>" for a missing field, a
            wrong joint count or a non-numeric or non-finite value.
    """
    source = f"{path}[{index}]"
    if not isinstance(person, dict):
        raise ValueError(f"{source}: expected a person dict. Received: {person!r}")
    missing = [field for field in _JSON_FIELDS if field not in person]
    if missing:
        raise ValueError(
            f"{source}: missing field {missing[0]!r}; an MPII JSON record has "
            f"{list(_JSON_FIELDS)}. Received fields: {sorted(person)}"
        )
    if not isinstance(person["image"], str) or not person["image"]:
        raise ValueError(f"{source}: image must be a file name. Received: {person['image']!r}")
    _check_joint_count(source, "joints", person["joints"])
    _check_joint_count(source, "joints_vis", person["joints_vis"])
    return _to_record(
        source,
        os.path.join(image_dir, person["image"]),
        person["center"],
        _as_float(source, "scale", person["scale"]),
        person["joints"],
        person["joints_vis"],
        adjust_box,
        image_id=person["image"],
    )


def _check_joint_count(source, name, value):
    if not isinstance(value, (list, tuple)) or len(value) != MPII.num_joints:
        count = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise ValueError(
            f"{source}: {name} must list {MPII.num_joints} joints. Received: {count}"
        )


def _as_array(source, name, value, shape):
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.shape != shape:
        raise ValueError(
            f"{source}: {name} must be numbers of shape {list(shape)}. Received: {name}={value!r}"
        )
    return array


def _as_float(source, name, value):
    try:
        return float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise ValueError(f"{source}: {name} must be a number. Received: {value!r}") from None


def _items(value):
    """A MATLAB struct array loaded with squeeze_me: 0, 1 or many structs -> list."""
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    return [value]


def _field(struct, name):
    value = getattr(struct, name, None)
    if isinstance(value, np.ndarray) and value.size == 0:
        return None
    return value


def _load_release(path, image_dir, adjust_box):
    """Reads `RELEASE.annolist(i).annorect(r)`: people with `annopoints`, `objpos`, `scale`.

    People lacking any of the three (test-set people, unannotated extras) are
    skipped: there is nothing to train or evaluate on.
    """
    mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    if "RELEASE" not in mat:
        raise ValueError(
            f"{path}: expected the MPII 'RELEASE' struct. "
            f"Received keys: {sorted(k for k in mat if not k.startswith('__'))}"
        )
    annolist = _field(mat["RELEASE"], "annolist")
    if annolist is None:
        raise ValueError(f"{path}: RELEASE has no 'annolist' field")
    records = []
    for i, anno in enumerate(_items(annolist)):
        image = _field(anno, "image")
        name = _field(image, "name") if image is not None else None
        if not isinstance(name, str):
            raise ValueError(
                f"{path}: RELEASE.annolist({i + 1}).image.name must be a file name. "
                f"Received: {name!r}"
            )
        for r, rect in enumerate(_items(_field(anno, "annorect"))):
            source = f"{path}: RELEASE.annolist({i + 1}).annorect({r + 1})"
            annopoints = _field(rect, "annopoints")
            objpos = _field(rect, "objpos")
            scale = _field(rect, "scale")
            if annopoints is None or objpos is None or scale is None:
                continue
            points = _items(_field(annopoints, "point"))
            joints = np.zeros((MPII.num_joints, 2))
            visible = np.zeros(MPII.num_joints)
            for point in points:
                joint = int(_as_float(source, "point.id", _field(point, "id")))
                if not 0 <= joint < MPII.num_joints:
                    raise ValueError(
                        f"{source}: point.id must be in [0, {MPII.num_joints - 1}]. "
                        f"Received: {joint}"
                    )
                joints[joint] = [
                    _as_float(source, "point.x", _field(point, "x")),
                    _as_float(source, "point.y", _field(point, "y")),
                ]
                visible[joint] = 1.0
            head_box = None
            if all(_field(rect, k) is not None for k in ("x1", "y1", "x2", "y2")):
                head_box = [_as_float(source, k, _field(rect, k)) - 1.0 for k in ("x1", "y1", "x2", "y2")]
            center = [
                _as_float(source, "objpos.x", _field(objpos, "x")),
                _as_float(source, "objpos.y", _field(objpos, "y")),
            ]
            records.append(
                _to_record(
                    source,
                    os.path.join(image_dir, name),
                    center,
                    _as_float(source, "scale", scale),
                    joints,
                    visible,
                    adjust_box,
                    head_box=head_box,
                    image_id=name,
                )
            )
    return records
