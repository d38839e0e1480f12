"""Tests of the built-in sample data: official layouts, determinism, caching."""

import hashlib
import inspect
import json
import os

import numpy as np
import pytest

from mdn_tf.data import coco, mpii
from mdn_tf.data.sample_data import sample_data

SMALL = dict(num_mpii_train=5, num_mpii_valid=3, num_coco_train=3, num_coco_val=3)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return sample_data(tmp_path_factory.mktemp("sample"), **SMALL)


def _digest(folder):
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            if name.endswith((".jpg", ".json")):
                with open(os.path.join(root, name), "rb") as f:
                    digest.update(name.encode() + f.read())
    return digest.hexdigest()


def test_sample_data_is_identical_for_the_same_seed(small, tmp_path):
    again = sample_data(tmp_path / "again", **SMALL)
    assert _digest(small.root) == _digest(again.root)


def test_sample_data_differs_for_another_seed(small, tmp_path):
    other = sample_data(tmp_path / "other", seed=1, **SMALL)
    assert _digest(small.root) != _digest(other.root)


def test_sample_data_is_reused_from_the_cache(small):
    before = os.path.getmtime(small.mpii_train)
    assert sample_data(small.root, **SMALL) == small
    assert os.path.getmtime(small.mpii_train) == before


def test_sample_mpii_json_has_exactly_the_official_fields(small):
    with open(small.mpii_train) as f:
        rows = json.load(f)
    assert len(rows) == 5
    assert set(rows[0]) == {"joints_vis", "joints", "image", "scale", "center"}
    assert np.array(rows[0]["joints"]).shape == (16, 2)
    missing = np.array([r["joints_vis"] for r in rows]) == 0
    joints = np.array([r["joints"] for r in rows])
    np.testing.assert_array_equal(joints[missing], -1.0)


def test_sample_mpii_formats_agree_with_each_other(small):
    train = mpii.load_annotations(small.mpii_train)
    valid = mpii.load_annotations(small.mpii_valid, gt_file=small.mpii_gt_valid)
    release = mpii.load_annotations(small.mpii_release)
    assert len(release) == len(train) + len(valid)
    for a, b in zip(train + valid, release):
        assert a.image == b.image
        np.testing.assert_array_equal(a.visibility, b.visibility)
        np.testing.assert_allclose(a.joints, b.joints, atol=1e-3)
        np.testing.assert_allclose(a.center, b.center, atol=1e-3)
    for a, b in zip(valid, release[len(train):]):
        np.testing.assert_allclose(a.head_box, b.head_box, atol=1e-3)
    assert all(os.path.exists(r.image) for r in train + valid)


def test_sample_defaults_give_a_large_mpii_validation_set():
    defaults = {k: p.default for k, p in inspect.signature(sample_data).parameters.items()}
    assert defaults["num_mpii_train"] == 800
    assert defaults["num_mpii_valid"] == 1000  # PCKh's sampling error stays small


def test_sample_mpii_difficulties_list_every_image_in_order(small):
    with open(small.mpii_difficulties) as f:
        difficulties = json.load(f)
    names = []
    for path in (small.mpii_train, small.mpii_valid):
        with open(path) as f:
            names += [row["image"] for row in json.load(f)]
    assert [d["image"] for d in difficulties] == names
    assert [d["split"] for d in difficulties] == ["train"] * 5 + ["valid"] * 3
    assert {"occluders", "truncated", "distractor", "clutter", "blur"} <= set(difficulties[0])


def test_sample_coco_files_read_through_pycocotools(small):
    people = coco.load_annotations(small.coco_val, image_dir=small.coco_val_images)
    assert people and all(os.path.exists(r.image) for r in people)
    assert all(r.visibility.sum() > 0 for r in people)
    detections = coco.load_annotations(small.coco_val, detections=small.coco_detections,
                                       image_dir=small.coco_val_images)
    assert len(detections) >= len(people)
    with open(small.coco_val) as f:
        document = json.load(f)
    ann = document["annotations"][0]
    assert len(ann["keypoints"]) == 51 and set(ann["keypoints"][2::3]) <= {0, 1, 2}
    assert ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
    assert document["categories"][0]["keypoints"][0] == "nose"
