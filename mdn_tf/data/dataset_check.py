"""Checks a pose dataset before a long run: every record, every image (`mdn-tf check-data`).

Records are read with the readers' own per-record functions
(`mpii.json_person_record`, `coco.annotation_record`), so a record the check
passes is one training reads; then what the readers accept but a run should
not see is checked too: visibility flags outside their set, people with no
annotated joint, joints far outside their image, crop centres outside it,
head boxes missing or empty (PCKh divides by their size), COCO references
(duplicate ids, unknown image ids, `num_keypoints` disagreeing with the
flags, image sizes disagreeing with the file). Images are decoded in threads
with the decode training uses (`image_files.diagnose`).

Problems come out in a fixed order, whatever the threads finish first: the
records' problems (split by split, in file order), then the images' (in the
order the records first name them), then those needing an image's size.
"""

import dataclasses
import json
import os
import time

import numpy as np

from mdn_tf.data import coco, image_files, mpii
from mdn_tf.skeleton import COCO

# A joint may lie this fraction of the image's size outside it before it is
# reported: MPII and COCO annotators mark joints just past the border.
JOINT_MARGIN = 0.1

# Record problem kinds (image problem kinds are in `image_files`).
ANNOTATION_FILE = "annotation_file"
MALFORMED = "malformed_record"
VISIBILITY = "bad_visibility"
NO_JOINTS = "no_joints"
JOINT_OUTSIDE = "joint_outside_image"
CENTRE_OUTSIDE = "centre_outside_image"
HEAD_BOX = "bad_head_box"
REFERENCE = "bad_reference"
IMAGE_SIZE = "image_size_mismatch"


@dataclasses.dataclass
class Split:
    """One annotation file to check and where its images are."""

    name: str
    annotations: str
    images: str
    head_boxes: str = None  # MPII gt_valid.mat (PCKh), rows = the JSON's rows
    detections: str = None  # COCO detector results referring to this split's images


@dataclasses.dataclass
class Problem:
    """One thing wrong, named by file and record."""

    kind: str
    file: str
    record: str
    message: str

    def line(self):
        """"<file> (<record>): <kind>: <message>", the record alone when it names the file."""
        if not self.record:
            where = self.file
        elif self.record.startswith(self.file):
            where = self.record
        else:
            where = f"{self.file} ({self.record})"
        return f"{where}: {self.kind}: {self.message}"


@dataclasses.dataclass
class Report:
    """The result of a check: problems in a fixed order and what was looked at."""

    problems: list
    records: int  # records read, malformed ones included
    images: int
    seconds: float

    def counts(self):
        """Problem kind -> count, most frequent first."""
        counts = {}
        for problem in self.problems:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def to_json(self):
        return {"records": self.records, "images": self.images, "seconds": self.seconds,
                "counts": self.counts(), "problems": [dataclasses.asdict(p) for p in self.problems]}


class _Person:
    """A record that parsed, with what the image-dependent checks need."""

    def __init__(self, source, image, joints, visibility, center):
        self.source, self.image = source, image
        self.joints, self.visibility, self.center = joints, visibility, center


def check(dataset, splits, workers=None, progress=None):
    """Checks the records and images of `splits`.

    Args:
        dataset: "mpii" or "coco".
        splits: a list of `Split`.
        workers: decoding threads. Defaults to the CPU count.
        progress: optional `progress(kind, done, total)`: "images" as
            images are decoded (in order).

    Returns:
        A `Report`.
    """
    if dataset not in ("mpii", "coco"):
        raise ValueError(f"dataset must be 'mpii' or 'coco'. Received: {dataset!r}")
    start = time.time()
    problems, people, images = [], [], {}  # images: path -> (declared size or None, first source)
    records = 0
    for split in splits:
        reader = _mpii_split if dataset == "mpii" else _coco_split
        split_problems, split_people, count = reader(split, images)
        problems += split_problems
        people += split_people
        records += count
    paths = list(images)

    def advance(done):
        if progress is not None:
            progress("images", done, len(paths))

    results = dict(zip(paths, image_files.scan(paths, workers, advance)))
    users = {}
    for person in people:
        users.setdefault(person.image, []).append(person.source)
    for path in paths:
        problem, size = results[path]
        declared, first = images[path]
        where = _records(users.get(path, [first]))
        if problem is not None:
            problems.append(Problem(problem[0], path, where, problem[1]))
        elif declared is not None and tuple(declared) != size:
            problems.append(Problem(IMAGE_SIZE, path, where,
                                    f"the annotation says {declared[1]}x{declared[0]} (w x h), "
                                    f"the file decodes to {size[1]}x{size[0]}"))
    for person in people:
        size = results[person.image][1]
        if size is not None:
            problems += _geometry(person, size)
    return Report(problems, records, len(paths), time.time() - start)


def _records(sources):
    sources = list(dict.fromkeys(sources))
    if len(sources) == 1:
        return sources[0]
    return f"{sources[0]} (and {len(sources) - 1} more record{'s' if len(sources) > 2 else ''})"


def _load_json(path, problems):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        problems.append(Problem(image_files.MISSING, path, "", "annotation file not found"))
    except (OSError, ValueError) as error:
        problems.append(Problem(ANNOTATION_FILE, path, "", f"cannot read it as JSON ({error})"))
    return None


def _mpii_split(split, images):
    problems, people = [], []
    data = _load_json(split.annotations, problems)
    if data is None:
        return problems, people, 0
    if not isinstance(data, list):
        problems.append(Problem(ANNOTATION_FILE, split.annotations, "",
                                f"expected a JSON list of MPII person dicts. "
                                f"Received: {type(data).__name__}"))
        return problems, people, 0
    for index, person in enumerate(data):
        try:
            # adjust_box=False: the annotated objpos is what must lie in the image.
            record = mpii.json_person_record(split.annotations, index, person, split.images,
                                             adjust_box=False)
        except ValueError as error:
            problems.append(Problem(MALFORMED, split.annotations,
                                    f"{split.annotations}[{index}]", _reason(error)))
            continue
        problems += _visibility(record.source, split.annotations, person.get("joints_vis"),
                                (0, 1), "joints_vis")
        people.append(_Person(record.source, record.image, record.joints, record.visibility,
                              record.center))
        images.setdefault(record.image, (None, record.source))
    if split.head_boxes:
        problems += _head_boxes(split, len(data))
    return problems, people, len(data)


def _reason(error):
    # The readers' messages start with "<file>[<record>]: "; the report names those itself.
    text = str(error)
    head, sep, rest = text.partition("]: ")
    return rest if sep and "[" in head else text


def _visibility(source, file, flags, allowed, name):
    values = np.asarray(flags, dtype=np.float64).reshape(-1)
    bad = sorted({float(v) for v in values if v not in allowed})
    if not bad:
        return []
    return [Problem(VISIBILITY, file, source,
                    f"{name} must be one of {list(allowed)}. Received: {bad}")]


def _head_boxes(split, count):
    if not os.path.exists(split.head_boxes):
        return [Problem(image_files.MISSING, split.head_boxes, "",
                        "head boxes (gt_valid.mat) not found; PCKh needs them")]
    try:
        boxes = mpii.load_head_boxes(split.head_boxes)
    except (OSError, ValueError) as error:
        return [Problem(ANNOTATION_FILE, split.head_boxes, "", str(error))]
    problems = []
    if len(boxes) != count:
        problems.append(Problem(HEAD_BOX, split.head_boxes, "",
                                f"{len(boxes)} head boxes for the {count} people of "
                                f"{split.annotations}; they must be the same rows"))
    for row, box in enumerate(boxes):
        if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            problems.append(Problem(HEAD_BOX, split.head_boxes, f"{split.head_boxes}[{row}]",
                                    f"head box (x1, y1, x2, y2) must have x2 > x1 and y2 > y1. "
                                    f"Received: {np.round(box, 2).tolist()}"))
    return problems


def _coco_split(split, images):
    problems, people = [], []
    data = _load_json(split.annotations, problems)
    if data is None:
        return problems, people, 0
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        problems.append(Problem(ANNOTATION_FILE, split.annotations, "",
                                "expected a COCO dict with 'images' and 'annotations' lists"))
        return problems, people, 0
    by_id = {}
    for index, image in enumerate(data["images"]):
        where = f"{split.annotations}[image {index}]"
        if not isinstance(image, dict) or "id" not in image \
                or not isinstance(image.get("file_name"), str):
            problems.append(Problem(MALFORMED, split.annotations, where,
                                    "an image entry needs 'id' and 'file_name'"))
            continue
        if image["id"] in by_id:
            problems.append(Problem(REFERENCE, split.annotations, where,
                                    f"duplicate image id {image['id']!r}"))
            continue
        by_id[image["id"]] = image
        # Every listed image is decoded, not only those with people: evaluation
        # with detections reads the others too.
        declared = (image["height"], image["width"]) if "height" in image and "width" in image \
            else None
        images.setdefault(os.path.join(split.images, image["file_name"]),
                          (declared, f"{split.annotations}[image id {image['id']}]"))
    aspect = 192.0 / 256.0  # any ratio: the crop box is not checked, only parsed
    seen = set()
    for ann in data["annotations"]:
        ann_id = ann.get("id") if isinstance(ann, dict) else None
        where = f"{split.annotations}[annotation id {ann_id}]"
        if not isinstance(ann, dict):
            problems.append(Problem(MALFORMED, split.annotations, where,
                                    f"expected an annotation dict. Received: {ann!r}"))
            continue
        if ann.get("category_id", coco.PERSON_CATEGORY) != coco.PERSON_CATEGORY:
            continue
        if ann_id in seen:
            problems.append(Problem(REFERENCE, split.annotations, where,
                                    f"duplicate annotation id {ann_id!r}"))
        seen.add(ann_id)
        try:
            record = coco.annotation_record(ann, by_id, where, split.images, aspect)
        except ValueError as error:
            kind = REFERENCE if "is not among the file's images" in str(error) else MALFORMED
            problems.append(Problem(kind, split.annotations, where, _reason(error)))
            continue
        keypoints = np.asarray(ann["keypoints"], dtype=np.float64).reshape(COCO.num_joints, 3)
        problems += _visibility(where, split.annotations, keypoints[:, 2], (0, 1, 2), "v")
        annotated = int(np.sum(keypoints[:, 2] > 0))
        if "num_keypoints" in ann and ann["num_keypoints"] != annotated:
            problems.append(Problem(REFERENCE, split.annotations, where,
                                    f"num_keypoints is {ann['num_keypoints']!r} but {annotated} "
                                    "keypoints have v > 0"))
        if record is None:
            continue
        # COCO's crop centre is the box centre, checked by the reader: no centre check.
        people.append(_Person(where, record.image, record.joints, record.visibility, None))
    if split.detections:
        problems += _detections(split.detections, by_id)
    return problems, people, len(data["annotations"])


def _detections(path, by_id):
    problems = []
    data = _load_json(path, problems)
    if data is None:
        return problems
    if not isinstance(data, list):
        return [Problem(ANNOTATION_FILE, path, "", "expected a JSON list of detections. "
                                                   f"Received: {type(data).__name__}")]
    for index, det in enumerate(data):
        where = f"{path}[{index}]"
        if not isinstance(det, dict) or any(k not in det for k in ("image_id", "bbox", "score")):
            problems.append(Problem(MALFORMED, path, where,
                                    "a detection needs 'image_id', 'bbox' and 'score'"))
            continue
        if det["image_id"] not in by_id:
            problems.append(Problem(REFERENCE, path, where,
                                    f"image_id {det['image_id']!r} is not among the images"))
            continue
        try:
            box = np.asarray(det["bbox"], dtype=np.float64).reshape(-1)
            score = float(det["score"])
        except (TypeError, ValueError):
            box, score = np.zeros(0), float("nan")
        if box.size != 4 or not np.all(np.isfinite(box)) or not np.isfinite(score):
            problems.append(Problem(MALFORMED, path, where,
                                    f"bbox must be 4 finite numbers and score finite. "
                                    f"Received: bbox={det['bbox']!r}, score={det['score']!r}"))
    return problems


def _geometry(person, size):
    """Checks that need the image size: joints near the image, the centre inside."""
    height, width = size
    problems = []
    if not np.any(person.visibility > 0):
        return [Problem(NO_JOINTS, person.image, person.source, "no annotated joint")]
    margin_x, margin_y = JOINT_MARGIN * width, JOINT_MARGIN * height
    x, y = person.joints[:, 0], person.joints[:, 1]
    outside = (person.visibility > 0) & (
        (x < -margin_x) | (x > width - 1 + margin_x) | (y < -margin_y) | (y > height - 1 + margin_y)
    )
    for joint in np.flatnonzero(outside):
        problems.append(Problem(
            JOINT_OUTSIDE, person.image, person.source,
            f"joint {joint} at ({x[joint]:.1f}, {y[joint]:.1f}) is more than "
            f"{JOINT_MARGIN:.0%} outside the {width}x{height} image"))
    if person.center is not None:
        cx, cy = person.center
        if not (0 <= cx <= width - 1 and 0 <= cy <= height - 1):
            problems.append(Problem(CENTRE_OUTSIDE, person.image, person.source,
                                    f"crop centre ({cx:.1f}, {cy:.1f}) is outside the "
                                    f"{width}x{height} image"))
    return problems

