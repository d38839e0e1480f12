"""Tests of the MPII and COCO readers on hand-written files and on real data."""

import json

import numpy as np
import pytest
import scipy.io

from mdn_tf.data import coco, mpii
from mdn_tf.data.mpii import CENTER_SHIFT, SCALE_FACTOR


def _mpii_person(image="a.jpg", joints=None, vis=None, center=(101.0, 51.0), scale=1.5):
    if joints is None:
        joints = [[10.0 + j, 20.0 + 2 * j] for j in range(16)]
    if vis is None:
        vis = [1] * 16
    return {"joints_vis": vis, "joints": joints, "image": image, "scale": scale,
            "center": list(center)}


def _write_json(path, content):
    path.write_text(json.dumps(content))
    return path


def test_mpii_json_converts_one_based_joints_and_adjusts_the_box(tmp_path):
    person = _mpii_person()
    person["joints"][0] = [-1, -1]
    person["joints_vis"][0] = 0
    path = _write_json(tmp_path / "valid.json", [person])
    (record,) = mpii.load_annotations(path)
    assert record.image == str(tmp_path / "a.jpg")
    np.testing.assert_allclose(record.joints[1], [10.0, 21.0])  # (11, 22) 1-based
    np.testing.assert_allclose(record.joints[0], [0.0, 0.0])
    np.testing.assert_array_equal(record.visibility[:2], [0.0, 1.0])
    np.testing.assert_allclose(record.center, [100.0, 50.0 + CENTER_SHIFT * 1.5])
    np.testing.assert_allclose(record.scale, [1.5 * SCALE_FACTOR] * 2)


def test_mpii_json_without_adjustment_keeps_the_annotated_box(tmp_path):
    path = _write_json(tmp_path / "valid.json", [_mpii_person()])
    (record,) = mpii.load_annotations(path, adjust_box=False)
    np.testing.assert_allclose(record.center, [100.0, 50.0])
    np.testing.assert_allclose(record.scale, [1.5, 1.5])


def test_mpii_json_looks_for_images_beside_an_annot_folder(tmp_path):
    (tmp_path / "annot").mkdir()
    (tmp_path / "images").mkdir()
    path = _write_json(tmp_path / "annot" / "train.json", [_mpii_person()])
    (record,) = mpii.load_annotations(path)
    assert record.image == str(tmp_path / "images" / "a.jpg")


def test_mpii_json_missing_field_names_file_and_record(tmp_path):
    broken = _mpii_person()
    del broken["scale"]
    path = _write_json(tmp_path / "bad.json", [_mpii_person(), broken])
    with pytest.raises(ValueError, match=r"bad\.json\[1\]: missing field 'scale'"):
        mpii.load_annotations(path)


def test_mpii_json_wrong_joint_count_names_file_and_record(tmp_path):
    path = _write_json(tmp_path / "bad.json", [_mpii_person(joints=[[1.0, 1.0]] * 14)])
    with pytest.raises(ValueError, match=r"bad\.json\[0\]: joints must list 16 joints. Received: 14"):
        mpii.load_annotations(path)


def test_mpii_json_non_numeric_center_is_reported(tmp_path):
    path = _write_json(tmp_path / "bad.json", [_mpii_person(center=("a", "b"))])
    with pytest.raises(ValueError, match=r"bad\.json\[0\]"):
        mpii.load_annotations(path)


def test_mpii_json_that_is_not_a_list_is_reported(tmp_path):
    path = _write_json(tmp_path / "bad.json", {"image": "a.jpg"})
    with pytest.raises(ValueError, match="expected a JSON list of MPII person dicts. Received: dict"):
        mpii.load_annotations(path)


def _struct(**fields):
    return {k: v for k, v in fields.items()}


def _write_release(path):
    """A two-image RELEASE struct with the quirks of the official file.

    Image 1 holds one person with two annotated points (is_visible given as
    a string and as an empty array) and one unannotated person; image 2 is a
    test image with a single annorect lacking annopoints.
    """
    point_dtype = [("x", object), ("y", object), ("id", object), ("is_visible", object)]
    points = np.array([[(11.0, 21.0, 0, "1"), (31.0, 41.0, 9, np.zeros((0, 0)))]], dtype=point_dtype)
    rect_dtype = [(f, object) for f in ("x1", "y1", "x2", "y2", "annopoints", "scale", "objpos")]
    annopoints = np.array([[(points,)]], dtype=[("point", object)])
    objpos = np.array([[(50.0, 60.0)]], dtype=[("x", object), ("y", object)])
    empty = np.zeros((0, 0))
    rects = np.array(
        [[(21.0, 11.0, 41.0, 31.0, annopoints, 2.0, objpos),
          (empty, empty, empty, empty, empty, empty, empty)]],
        dtype=rect_dtype,
    )
    test_rect = np.array([[(empty, empty, empty, empty, empty, 1.0, objpos)]], dtype=rect_dtype)
    image_dtype = [("name", object)]
    anno_dtype = [("image", object), ("annorect", object)]
    annolist = np.array(
        [[(np.array([[("one.jpg",)]], dtype=image_dtype), rects),
          (np.array([[("two.jpg",)]], dtype=image_dtype), test_rect)]],
        dtype=anno_dtype,
    )
    release = np.array([[(annolist, np.array([[1, 0]]))]],
                       dtype=[("annolist", object), ("img_train", object)])
    scipy.io.savemat(path, {"RELEASE": release})


def test_mpii_release_mat_reads_annotated_people_only(tmp_path):
    path = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    _write_release(path)
    (record,) = mpii.load_annotations(path, image_dir="/images")
    assert record.image == "/images/one.jpg"
    np.testing.assert_allclose(record.joints[0], [10.0, 20.0])
    np.testing.assert_allclose(record.joints[9], [30.0, 40.0])
    assert record.visibility.sum() == 2 and record.visibility[9] == 1
    np.testing.assert_allclose(record.head_box, [20.0, 10.0, 40.0, 30.0])
    np.testing.assert_allclose(record.center, [49.0, 59.0 + CENTER_SHIFT * 2.0])
    np.testing.assert_allclose(record.scale, [2.0 * SCALE_FACTOR] * 2)


def test_mpii_release_without_struct_is_reported(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"something": np.zeros(3)})
    with pytest.raises(ValueError, match=r"other\.mat: expected the MPII 'RELEASE' struct"):
        mpii.load_annotations(path)


def _write_gt(path, num=3):
    rng = np.random.default_rng(0)
    pos = rng.uniform(1, 100, (16, 2, num))
    boxes = np.stack([np.array([[11.0, 21.0], [31.0, 51.0]])] * num, axis=2)
    missing = np.zeros((16, num))
    missing[0, 1] = 1
    scipy.io.savemat(path, {"jnt_missing": missing, "pos_gt_src": pos, "headboxes_src": boxes})
    return pos


def test_load_head_boxes_reads_gt_valid_zero_based(tmp_path):
    _write_gt(tmp_path / "gt_valid.mat")
    boxes = mpii.load_head_boxes(tmp_path / "gt_valid.mat")
    assert boxes.shape == (3, 4)
    np.testing.assert_allclose(boxes[0], [10.0, 20.0, 30.0, 50.0])


def test_load_ground_truth_transposes_to_person_major(tmp_path):
    pos = _write_gt(tmp_path / "gt_valid.mat")
    gt = mpii.load_ground_truth(tmp_path / "gt_valid.mat")
    np.testing.assert_allclose(gt["joints"][2, 5], pos[5, :, 2] - 1.0, rtol=1e-6)
    assert gt["missing"][1, 0] and gt["missing"].sum() == 1


def test_gt_file_with_other_row_count_is_rejected(tmp_path):
    _write_gt(tmp_path / "gt_valid.mat", num=3)
    path = _write_json(tmp_path / "valid.json", [_mpii_person()])
    with pytest.raises(ValueError, match="has 3 head boxes but .* has 1 records"):
        mpii.load_annotations(path, gt_file=tmp_path / "gt_valid.mat")


def _coco_file(tmp_path, annotations):
    content = {
        "images": [{"id": 7, "file_name": "seven.jpg", "height": 100, "width": 200}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}],
    }
    return _write_json(tmp_path / "person_keypoints_test.json", content)


def _coco_ann(ann_id, keypoints=None, bbox=(20.0, 10.0, 40.0, 60.0), iscrowd=0):
    if keypoints is None:
        keypoints = [0.0] * 51
        keypoints[15:18] = [30.0, 20.0, 2]  # left_shoulder
        keypoints[18:21] = [50.0, 25.0, 1]  # right_shoulder, occluded
    return {"id": ann_id, "image_id": 7, "category_id": 1, "bbox": list(bbox),
            "keypoints": keypoints, "num_keypoints": 2, "iscrowd": iscrowd,
            "area": 100.0, "segmentation": []}


def test_coco_ground_truth_skips_crowd_and_empty_people(tmp_path):
    path = _coco_file(tmp_path, [
        _coco_ann(1), _coco_ann(2, iscrowd=1), _coco_ann(3, keypoints=[0.0] * 51),
    ])
    (record,) = coco.load_annotations(path, image_dir="/img")
    assert record.image == "/img/seven.jpg" and record.image_id == 7 and record.score == 1.0
    np.testing.assert_allclose(record.joints[5:7], [[30.0, 20.0], [50.0, 25.0]])
    np.testing.assert_array_equal(np.nonzero(record.visibility)[0], [5, 6])


def test_coco_box_is_expanded_to_the_input_aspect_ratio(tmp_path):
    path = _coco_file(tmp_path, [_coco_ann(1, bbox=(20.0, 10.0, 41.0, 61.0))])
    (record,) = coco.load_annotations(path, input_size=(256, 192))
    # Clipped box (x1, y1, w - 1, h - 1) = (20, 10, 40, 60); w/h = 0.667 < 0.75: widen.
    np.testing.assert_allclose(record.center, [40.0, 40.0])
    np.testing.assert_allclose(record.scale, [60.0 * 0.75 / 200 * 1.25, 60.0 / 200 * 1.25], rtol=1e-6)


def test_coco_detections_apply_the_score_threshold(tmp_path):
    path = _coco_file(tmp_path, [_coco_ann(1)])
    detections = _write_json(tmp_path / "det.json", [
        {"image_id": 7, "category_id": 1, "bbox": [10, 10, 30, 50], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [50, 10, 30, 50], "score": 0.2},
    ])
    records = coco.load_annotations(path, detections=detections, score_threshold=0.5)
    assert [r.score for r in records] == [pytest.approx(0.9)]
    assert records[0].visibility.sum() == 0


def test_coco_wrong_keypoint_count_names_file_and_annotation(tmp_path):
    path = _coco_file(tmp_path, [_coco_ann(5, keypoints=[1.0] * 48)])
    with pytest.raises(ValueError, match=r"annotation id 5\]: keypoints must hold 17 .* Received: 48"):
        coco.load_annotations(path)


def test_coco_detection_without_bbox_names_file_and_record(tmp_path):
    path = _coco_file(tmp_path, [_coco_ann(1)])
    detections = _write_json(tmp_path / "det.json", [{"image_id": 7, "score": 0.9}])
    with pytest.raises(ValueError, match=r"det\.json\[0\]: missing field 'bbox'"):
        coco.load_annotations(path, detections=detections)


def test_real_mpii_json_matches_gt_valid(real_data_dir):
    mpii_dir = real_data_dir / "mpii"
    records = mpii.load_annotations(mpii_dir / "valid.json", gt_file=mpii_dir / "gt_valid.mat")
    assert len(records) == 2958
    gt = mpii.load_ground_truth(mpii_dir / "gt_valid.mat")
    visibility = np.stack([r.visibility for r in records])
    np.testing.assert_array_equal(visibility == 0, gt["missing"])
    joints = np.stack([r.joints for r in records])
    np.testing.assert_allclose(joints[~gt["missing"]], gt["joints"][~gt["missing"]], atol=1e-3)
    np.testing.assert_allclose(records[0].head_box, gt["head_boxes"][0])


def test_real_mpii_test_people_point_to_existing_images(real_data_dir):
    records = mpii.load_annotations(real_data_dir / "mpii" / "test_mpii.json")
    assert len(records) == 5
    assert all(np.isfinite(r.joints).all() for r in records)
    assert sum(int(r.visibility[0] == 0 and r.visibility[5] == 0) for r in records) == 2
    for record in records:
        assert open(record.image, "rb").read(2) == b"\xff\xd8"


def test_real_coco_ground_truth_and_detections(real_data_dir):
    folder = real_data_dir / "coco"
    people = coco.load_annotations(folder / "test_coco.json")
    assert len(people) == 12  # 14 people, two with no keypoints
    detections = coco.load_annotations(folder / "test_coco.json",
                                       detections=folder / "test_coco_det_AP_H_56.json")
    assert len(detections) == 118
    assert {r.image_id for r in detections} <= {r.image_id for r in people}
