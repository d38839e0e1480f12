"""Built-in sample data: synthetic people written in the official MPII and COCO layouts.

`sample_data()` generates (once, then reuses) a small deterministic dataset
so that training, evaluation and the tests run with no download:

    <root>/mpii/images/000000001.jpg ...
    <root>/mpii/annot/train.json, valid.json     the widely used MPII JSON layout
    <root>/mpii/annot/gt_valid.mat               head boxes etc., rows = valid.json
    <root>/mpii/annot/mpii_human_pose_sample.mat the official `RELEASE` struct
    <root>/mpii/annot/difficulties.json          what makes each MPII image hard (not official)
    <root>/coco/train/*.jpg, <root>/coco/val/*.jpg
    <root>/coco/annotations/person_keypoints_{train,val}.json
    <root>/coco/annotations/person_detections_val.json   detector-results layout
    <root>/manifest.json                         what was generated (the cache key)

The readers in `mdn_tf.data.mpii` and `mdn_tf.data.coco` read these exactly
as they read the real files. The default root is `<cache>/sample`, with
`<cache>` the mdn_tf cache folder (`mdn_tf.cache`: `$MDN_TF_HOME`, else
`$KERAS_HOME/mdn_tf`, else `~/.keras/mdn_tf`), never the package or the
source tree.

The MPII images are made hard in the ways real photos are (see the rates
below and `mdn_tf.data.synthetic`): occluders of several shapes and fills
over joints, people cut off by the image border, a second, unannotated
person overlapping the annotated one (sometimes dressed alike), limb-like
clutter, varied limb widths and clothing, lighting, blur and noise. The
COCO images share the clutter, clothing, occluder and camera effects.

Command line: `mdn-tf sample-data [--root DIR]` (also `python -m mdn_tf.cli sample-data`).
"""

import dataclasses
import json
import os

import numpy as np
import scipy.io

from mdn_tf import cache
from mdn_tf.data import synthetic
from mdn_tf.skeleton import COCO

VERSION = 2  # bump when the drawing changes: cached sets then regenerate
MPII_IMAGE_SIZE = (240, 320)  # (height, width)
COCO_IMAGE_SIZE = (240, 320)
_MPII_SHORT_NAMES = ("rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
                     "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri")
# COCO keypoint k is MPII joint _COCO_FROM_MPII[k] (-1: a face point from the head).
_COCO_FROM_MPII = (-1, -1, -1, -1, -1, 13, 12, 14, 11, 15, 10, 3, 2, 4, 1, 5, 0)

# How often each difficulty is drawn into an MPII image, independently.
# Rates are per image; `difficulties.json` records what each image got.
MPII_HEIGHT_RANGE = (110.0, 220.0)  # person height (head top to ankles), pixels
MPII_FIT_MARGIN = 0.03  # untruncated people keep every joint this many heights inside
MPII_TRUNCATION_RATE = 0.22  # the person leaves the image through one border
MPII_OCCLUDER_COUNTS = (0.55, 0.25, 0.13, 0.07)  # P(0, 1, 2, 3 occluders): 45% have at least one
OCCLUDER_SIZE = (0.15, 0.45)  # occluder size, fraction of the person's height
MPII_DISTRACTOR_RATE = 0.30  # a second, unannotated person overlaps the annotated one
DISTRACTOR_FRONT_RATE = 0.5  # ...in front of it (hiding its joints) rather than behind
DISTRACTOR_LOOKALIKE_RATE = 0.4  # ...dressed in the annotated person's colours
DISTRACTOR_OFFSET = (0.2, 0.55)  # its pelvis's sideways offset, in heights: overlapping
CLUTTER_RATE = 0.6  # images with limb-like background pieces (MPII and COCO)
CLUTTER_MAX = 6  # 1..CLUTTER_MAX pieces, uniformly
BLUR_RATE = 0.25  # images blurred by a Gaussian (MPII and COCO)
BLUR_SIGMA = (0.7, 2.0)  # pixels
NOISE_SIGMA = (0.0, 0.05)  # sensor noise added last, on top of the background's own


@dataclasses.dataclass(frozen=True)
class SampleData:
    """Paths of a generated sample dataset."""

    root: str
    mpii_images: str
    mpii_train: str
    mpii_valid: str
    mpii_gt_valid: str
    mpii_release: str
    mpii_difficulties: str
    coco_train_images: str
    coco_val_images: str
    coco_train: str
    coco_val: str
    coco_detections: str


def _paths(root):
    mpii, coco = os.path.join(root, "mpii"), os.path.join(root, "coco")
    return SampleData(
        root=root,
        mpii_images=os.path.join(mpii, "images"),
        mpii_train=os.path.join(mpii, "annot", "train.json"),
        mpii_valid=os.path.join(mpii, "annot", "valid.json"),
        mpii_gt_valid=os.path.join(mpii, "annot", "gt_valid.mat"),
        mpii_release=os.path.join(mpii, "annot", "mpii_human_pose_sample.mat"),
        mpii_difficulties=os.path.join(mpii, "annot", "difficulties.json"),
        coco_train_images=os.path.join(coco, "train"),
        coco_val_images=os.path.join(coco, "val"),
        coco_train=os.path.join(coco, "annotations", "person_keypoints_train.json"),
        coco_val=os.path.join(coco, "annotations", "person_keypoints_val.json"),
        coco_detections=os.path.join(coco, "annotations", "person_detections_val.json"),
    )


def default_root():
    """`<cache>/sample`: where `sample_data()` writes unless told (read at each call)."""
    return cache.cache_dir("sample")


def sample_data(root=None, num_mpii_train=800, num_mpii_valid=1000, num_coco_train=80,
                num_coco_val=40, seed=0):
    """Returns the paths of the sample dataset, generating it when needed.

    The dataset is regenerated only when `<root>/manifest.json` is missing or
    records different arguments, so repeated calls are instant.

    Args:
        root: output folder. Defaults to `default_root()`, `<cache>/sample`.
        num_mpii_train: MPII training images (one annotated person each).
            Defaults to 800.
        num_mpii_valid: MPII validation images (one annotated person each).
            Defaults to 1000, so that a PCKh measured on them has a sampling
            error of about 1.5 points or less.
        num_coco_train: COCO training images (1-3 people each). Defaults to 80.
        num_coco_val: COCO validation images. Defaults to 40.
        seed: fixes every pixel and annotation. Defaults to 0.

    Returns:
        A `SampleData` of file and folder paths.
    """
    root = os.path.abspath(os.fspath(root or default_root()))
    paths = _paths(root)
    settings = {
        "version": VERSION, "seed": int(seed), "num_mpii_train": int(num_mpii_train),
        "num_mpii_valid": int(num_mpii_valid), "num_coco_train": int(num_coco_train),
        "num_coco_val": int(num_coco_val),
    }
    manifest = os.path.join(root, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            if json.load(f) == settings:
                return paths
    for folder in (paths.mpii_images, os.path.dirname(paths.mpii_train),
                   paths.coco_train_images, paths.coco_val_images,
                   os.path.dirname(paths.coco_train)):
        os.makedirs(folder, exist_ok=True)
    _write_mpii(paths, seed, num_mpii_train, num_mpii_valid)
    _write_coco(paths, seed, num_coco_train, num_coco_val)
    with open(manifest, "w", encoding="utf-8") as f:  # written last: marks completion
        json.dump(settings, f)
    return paths


def _write_jpeg(path, image):
    import tensorflow as tf  # imported late: generating annotations needs no TF

    pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    tf.io.write_file(path, tf.io.encode_jpeg(pixels, quality=92))


@dataclasses.dataclass
class MpiiScene:
    """One generated MPII image and what is known about its annotated person.

    Attributes:
        image: `[h, w, 3]` float RGB in [0, 1], before JPEG coding.
        joints: `[16, 2]` 0-based (x, y); some may lie outside the image.
        height: the person's height in pixels (sets `scale` and the head box).
        hiding_mask: `[h, w]` bool, pixels of the occluders and of a
            distractor drawn in front: what hides the annotated person.
        hidden: `[16]` bool, joints whose pixel `hiding_mask` covers.
        difficulties: JSON-ready dict of what makes the image hard (the
            rows of `difficulties.json`, less "image" and "split").
    """

    image: np.ndarray
    joints: np.ndarray
    height: float
    hiding_mask: np.ndarray
    hidden: np.ndarray
    difficulties: dict


def mpii_scene(seed, split_id, index, shape=MPII_IMAGE_SIZE):
    """Draws MPII image `index` of split `split_id` (0 train, 1 valid) for `seed`.

    Everything comes from the image's own stream
    `default_rng([seed, 1, split_id, index])`, so one image can be redrawn
    alone (the tests do, to get its masks) and is the same in any set size.
    Layers, back to front: background, clutter, a distractor behind, the
    person, a distractor in front, occluders; then lighting, blur, noise.

    Returns:
        An `MpiiScene`.
    """
    rng = np.random.default_rng([seed, 1, split_id, index])
    joints, height, side = _place_mpii_person(rng, shape)
    style = synthetic.random_style(rng, shape, height)
    image = synthetic.background(rng, shape)
    clutter = _draw_clutter(rng, image, height, (style.shirt_color, style.pants_color))
    front, distractor = _draw_mpii_people(rng, image, joints, height, style)
    occluders, occluder_info = _draw_occluders(rng, image, joints, height)
    hiding_mask = np.logical_or.reduce([front, *occluders])
    hidden = synthetic.covered(hiding_mask, joints)
    image, camera = _photograph(rng, image)
    present = synthetic.inside_image(joints, shape)
    difficulties = {
        "occluders": len(occluders),
        "occluder_shapes": [info["shape"] for info in occluder_info],
        "occluder_fills": [info["fill"] for info in occluder_info],
        "truncated": side is not None,
        "truncated_side": side or "",
        "missing_joints": int(np.sum(~present)),
        "occluded_joints": int(np.sum(present & hidden)),
        **distractor,
        "hidden_by_distractor": int(np.sum(present & synthetic.covered(front, joints))),
        "clutter": clutter,
        **camera,
        "limb_scale": round(style.limb_scale, 4),
        "clothing": list(style.textures),
    }
    return MpiiScene(image, joints, height, hiding_mask, hidden, difficulties)


def _place_mpii_person(rng, shape):
    """A random pose, across a border (`MPII_TRUNCATION_RATE`) or wholly inside.

    Returns:
        `(joints [16, 2], height, side)`, side None when not truncated.
    """
    height = rng.uniform(*MPII_HEIGHT_RANGE)
    joints, _ = synthetic.random_pose(rng, height, np.zeros(2))
    if rng.uniform() < MPII_TRUNCATION_RATE:
        placed, side = synthetic.cross_border(rng, joints, height, shape)
        if side is not None:
            return placed, height, side
    # Untruncated people lose no joint, so "truncated" is exactly "has a missing joint".
    joints, height = synthetic.fit_inside(rng, joints, height, shape, MPII_FIT_MARGIN)
    return joints, height, None


def _draw_clutter(rng, image, height, colors=()):
    """Limb-like background pieces in `CLUTTER_RATE` of images; returns their count."""
    count = int(rng.integers(1, CLUTTER_MAX + 1)) if rng.uniform() < CLUTTER_RATE else 0
    synthetic.draw_clutter(rng, image, count, height, colors)
    return count


def _draw_mpii_people(rng, image, joints, height, style):
    """Draws the annotated person and, in `MPII_DISTRACTOR_RATE` of images, a second one.

    The second person is unannotated, of similar height, beside the first
    so that their bodies overlap, and drawn behind or in front of it.

    Returns:
        `(front, info)`: the `[h, w]` bool mask of a distractor drawn in
        front (all False otherwise) and {"distractor", "distractor_in_front",
        "distractor_lookalike"}.
    """
    front = np.zeros(image.shape[:2], bool)
    info = {"distractor": False, "distractor_in_front": False, "distractor_lookalike": False}
    if rng.uniform() >= MPII_DISTRACTOR_RATE:
        synthetic.draw_person(rng, image, joints, height, style)
        return front, info
    in_front = bool(rng.uniform() < DISTRACTOR_FRONT_RATE)
    lookalike = bool(rng.uniform() < DISTRACTOR_LOOKALIKE_RATE)
    other_height = height * rng.uniform(0.85, 1.15)
    offset = np.array([rng.choice([-1.0, 1.0]) * rng.uniform(*DISTRACTOR_OFFSET),
                       rng.normal(0.0, 0.05)]) * height
    other, _ = synthetic.random_pose(rng, other_height, joints[6] + offset)
    other_style = synthetic.random_style(rng, image.shape[:2], other_height,
                                         like=style if lookalike else None)
    if not in_front:
        synthetic.draw_person(rng, image, other, other_height, other_style)
    synthetic.draw_person(rng, image, joints, height, style)
    if in_front:
        front = synthetic.draw_person(rng, image, other, other_height, other_style)
    info.update(distractor=True, distractor_in_front=in_front, distractor_lookalike=lookalike)
    return front, info


def _draw_occluders(rng, image, joints, height):
    """0-3 occluders (`MPII_OCCLUDER_COUNTS`), each centred near a joint inside the image.

    Returns:
        `(masks, infos)`: a `[h, w]` bool mask and a {"shape", "fill"} per occluder.
    """
    count = rng.choice(len(MPII_OCCLUDER_COUNTS), p=MPII_OCCLUDER_COUNTS)
    # The pelvis and thorax are always inside, so there is always a target.
    targets = np.flatnonzero(synthetic.inside_image(joints, image.shape[:2]))
    masks, infos = [], []
    for _ in range(count):
        around = joints[rng.choice(targets)]
        mask, info = synthetic.draw_occluder(rng, image, around, rng.uniform(*OCCLUDER_SIZE) * height)
        masks.append(mask)
        infos.append(info)
    return masks, infos


def _photograph(rng, image):
    """What a camera adds, applied last: lighting, blur (`BLUR_RATE`), sensor noise.

    Returns:
        `(image, info)` with info {"blur", "blur_sigma", "noise", "lighting"}.
    """
    image, lighting = synthetic.relight(rng, image)
    sigma = rng.uniform(*BLUR_SIGMA) if rng.uniform() < BLUR_RATE else 0.0
    if sigma > 0:
        image = synthetic.blur(image, sigma)
    noise = rng.uniform(*NOISE_SIGMA)
    image = synthetic.add_noise(rng, image, noise)
    info = {"blur": bool(sigma > 0), "blur_sigma": round(float(sigma), 4),
            "noise": round(float(noise), 4),
            "lighting": {k: round(v, 4) for k, v in lighting.items()}}
    return image, info


def _mpii_annotation(scene, shape):
    """The annotated person of `scene` in MATLAB 1-based coordinates, as in the real files.

    Joints outside the image are not annotated (`visible` 0, joints -1);
    `is_visible` is 0 also for joints that an occluder or a front distractor
    hides.
    """
    joints, height = scene.joints, scene.height
    present = synthetic.inside_image(joints, shape)
    objpos = 0.5 * (joints[6] + joints[7])
    head_center = 0.5 * (joints[8] + joints[9])
    half = 0.07 * height
    return {
        "joints": np.where(present[:, None], joints + 1.0, -1.0),
        "visible": present.astype(int),
        "is_visible": (present & ~scene.hidden).astype(int),
        "center": objpos + 1.0,
        # The reader's crop (side 200 * 1.25 * scale = 1.375 heights, centred
        # 0.08 heights below objpos) then holds the whole upright person.
        "scale": 1.1 * height / 200.0,
        "head_box": np.concatenate([head_center - half, head_center + half]) + 1.0,
    }


def _write_mpii(paths, seed, num_train, num_valid):
    splits = {"train": [], "valid": []}
    release = []  # (image name, is_train, [person dicts])
    difficulties = []
    for split, count, split_id in (("train", num_train, 0), ("valid", num_valid, 1)):
        for index in range(count):
            name = f"{split_id}{index:08d}.jpg"
            scene = mpii_scene(seed, split_id, index)
            _write_jpeg(os.path.join(paths.mpii_images, name), scene.image)
            person = _mpii_annotation(scene, MPII_IMAGE_SIZE)
            splits[split].append((name, person))
            release.append((name, split == "train", [person]))
            difficulties.append({"image": name, "split": split, **scene.difficulties})
    for split, people in splits.items():
        rows = [
            {
                "joints_vis": person["visible"].tolist(),
                "joints": np.round(person["joints"], 3).tolist(),
                "image": name,
                "scale": round(person["scale"], 6),
                "center": np.round(person["center"], 3).tolist(),
            }
            for name, person in people
        ]
        path = paths.mpii_train if split == "train" else paths.mpii_valid
        with open(path, "w", encoding="utf-8") as f:
            json.dump(rows, f)
    _write_gt_valid(paths.mpii_gt_valid, [person for _, person in splits["valid"]])
    write_release_mat(paths.mpii_release, release)
    with open(paths.mpii_difficulties, "w", encoding="utf-8") as f:
        json.dump(difficulties, f, indent=0)


def _write_gt_valid(path, people):
    names = np.empty((1, 16), dtype=object)
    for j, short in enumerate(_MPII_SHORT_NAMES):
        names[0, j] = np.array([short])
    scipy.io.savemat(path, {
        "dataset_joints": names,
        "jnt_missing": np.stack([1 - p["visible"] for p in people], axis=1).astype(np.float64),
        "pos_gt_src": np.stack([p["joints"] for p in people], axis=2),
        "headboxes_src": np.stack([p["head_box"].reshape(2, 2) for p in people], axis=2),
    })


def _struct_array(rows, fields):
    """A 1 x N MATLAB struct array (scipy writes NumPy record arrays as structs)."""
    array = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f in fields:
            array[0, i][f] = row.get(f, np.zeros((0, 0)))
    return array


def write_release_mat(path, images):
    """Writes people in the layout of MPII's `mpii_human_pose_v1_u12_1.mat`.

    Args:
        path: output `.mat` file.
        images: `[(image name, is_train, [person, ...]), ...]` with each
            person a dict of 1-based "joints" `[16, 2]`, "visible" and
            "is_visible" `[16]`, "center" `[2]`, "scale" and "head_box"
            `[4]` (x1, y1, x2, y2).
    """
    annolist = []
    for name, _, people in images:
        rects = []
        for person in people:
            points = [
                {"x": float(person["joints"][j, 0]), "y": float(person["joints"][j, 1]),
                 "id": j, "is_visible": int(person["is_visible"][j])}
                for j in range(16) if person["visible"][j]
            ]
            x1, y1, x2, y2 = (float(v) for v in person["head_box"])
            rects.append({
                "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                "annopoints": _struct_array(
                    [{"point": _struct_array(points, ("x", "y", "id", "is_visible"))}], ("point",)
                ),
                "scale": float(person["scale"]),
                "objpos": _struct_array(
                    [{"x": float(person["center"][0]), "y": float(person["center"][1])}], ("x", "y")
                ),
            })
        annolist.append({
            "image": _struct_array([{"name": name}], ("name",)),
            "annorect": _struct_array(rects, ("x1", "y1", "x2", "y2", "annopoints", "scale", "objpos")),
            "frame_sec": np.zeros((0, 0)),
            "vididx": np.zeros((0, 0)),
        })
    release = _struct_array([{
        "annolist": _struct_array(annolist, ("image", "annorect", "frame_sec", "vididx")),
        "img_train": np.array([[int(t) for _, t, _ in images]], dtype=np.uint8),
        "version": "sample",
    }], ("annolist", "img_train", "version"))
    scipy.io.savemat(path, {"RELEASE": release})


def _coco_people(rng, shape, count):
    """Draws up to `count` people; returns the image and per-person (keypoints, box, area).

    Clutter, clothing, occluder shapes and camera effects are those of the
    MPII images; the flags only depend on masks, which the camera effects
    drawn last do not change.
    """
    h, w = shape
    image = synthetic.background(rng, shape)
    _draw_clutter(rng, image, 140.0)  # behind everyone: hides nothing annotated
    people, masks = [], []
    for _ in range(count):
        height = rng.uniform(70.0, 210.0)
        pelvis = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.35, 0.8) * h])
        joints, face = synthetic.random_pose(rng, height, pelvis)
        mask = synthetic.draw_person(rng, image, joints, height)
        for earlier in masks:  # later people hide earlier ones
            earlier &= ~mask
        masks.append(mask)
        points = np.array([face[k] if m < 0 else joints[m] for k, m in enumerate(_COCO_FROM_MPII)])
        people.append([points, height])
    if rng.uniform() < 0.3 and people:
        blocker, _ = synthetic.draw_occluder(rng, image, people[0][0][rng.integers(17)], 60.0)
        for mask in masks:
            mask &= ~blocker
    image, _ = _photograph(rng, image)
    annotations = []
    for (points, height), mask in zip(people, masks):
        present = synthetic.inside_image(points, shape)
        visible = synthetic.covered(mask, points)  # on the person's own unoccluded pixels
        flags = np.where(present, np.where(visible, 2, 1), 0)
        keypoints = np.concatenate([np.where(present[:, None], np.round(points, 2), 0.0),
                                    flags[:, None]], axis=1)
        rows, cols = np.nonzero(mask)
        if len(rows) == 0:
            continue
        x1, y1 = float(cols.min()), float(rows.min())
        box = [x1, y1, float(cols.max()) + 1.0 - x1, float(rows.max()) + 1.0 - y1]
        annotations.append((keypoints, box, float(mask.sum())))
    return image, annotations


def _write_coco(paths, seed, num_train, num_val):
    categories = [{
        "supercategory": "person", "id": 1, "name": "person",
        "keypoints": list(COCO.joint_names),
        "skeleton": [[a + 1, b + 1] for a, b in COCO.limbs],
    }]
    for split, count, split_id in (("train", num_train, 0), ("val", num_val, 1)):
        images, annotations, detections = [], [], []
        folder = paths.coco_train_images if split == "train" else paths.coco_val_images
        for index in range(count):
            rng = np.random.default_rng([seed, 2, split_id, index])
            image_id = 1000000 * (split_id + 1) + index
            name = f"{image_id:012d}.jpg"
            image, people = _coco_people(rng, COCO_IMAGE_SIZE, int(rng.integers(1, 4)))
            _write_jpeg(os.path.join(folder, name), image)
            images.append({"license": 0, "file_name": name, "height": COCO_IMAGE_SIZE[0],
                           "width": COCO_IMAGE_SIZE[1], "id": image_id})
            for keypoints, box, area in people:
                x, y, bw, bh = box
                annotations.append({
                    "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]],
                    "num_keypoints": int(np.sum(keypoints[:, 2] > 0)),
                    "area": area, "iscrowd": 0,
                    "keypoints": keypoints.reshape(-1).tolist(),
                    "image_id": image_id, "bbox": [round(v, 2) for v in box],
                    "category_id": 1, "id": len(annotations) + 1 + 1000000 * split_id,
                })
                jitter = rng.normal(0.0, 0.05, 4) * [bw, bh, bw, bh]
                detections.append({"image_id": image_id, "category_id": 1,
                                   "bbox": [round(float(v), 2) for v in np.array(box) + jitter],
                                   "score": round(float(rng.uniform(0.5, 1.0)), 4)})
            if rng.uniform() < 0.5:  # a false positive
                fx, fy = rng.uniform(0, COCO_IMAGE_SIZE[1] - 40), rng.uniform(0, COCO_IMAGE_SIZE[0] - 60)
                detections.append({"image_id": image_id, "category_id": 1,
                                   "bbox": [round(fx, 2), round(fy, 2), 40.0, 60.0],
                                   "score": round(float(rng.uniform(0.05, 0.4)), 4)})
        document = {
            "info": {"description": "mdn_tf synthetic sample data", "version": str(VERSION)},
            "licenses": [{"id": 0, "name": "CC0 (synthetic)", "url": ""}],
            "categories": categories, "images": images, "annotations": annotations,
        }
        path = paths.coco_train if split == "train" else paths.coco_val
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document, f)
        if split == "val":
            with open(paths.coco_detections, "w", encoding="utf-8") as f:
                json.dump(detections, f)

