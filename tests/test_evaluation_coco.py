"""COCO OKS AP through pycocotools, OKS-NMS and rescoring."""

import json

import numpy as np
import pytest

from mdn_tf.evaluation import coco_keypoint_ap, format_coco_table, make_results, oks_nms
from mdn_tf.evaluation.coco_ap import object_keypoint_similarity, rescore


@pytest.fixture
def annotation_file(real_data_dir):
    return real_data_dir / "coco" / "test_coco.json"


def _ground_truth_people(annotation_file):
    with open(annotation_file) as handle:
        return [a for a in json.load(handle)["annotations"] if a["num_keypoints"] > 0]


def test_ground_truth_submitted_as_results_scores_ap_one(annotation_file, capsys):
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in _ground_truth_people(annotation_file)
    ]
    assert len(results) == 12
    stats = coco_keypoint_ap(results, annotation_file)
    assert stats["AP"] == pytest.approx(1.0)
    assert stats["AR"] == pytest.approx(1.0)
    assert "Average Precision" in capsys.readouterr().out
    assert "100.0" in format_coco_table(stats)


def test_results_json_path_and_noisy_keypoints_lower_the_ap(annotation_file, tmp_path):
    rng = np.random.default_rng(0)
    results = []
    for a in _ground_truth_people(annotation_file):
        points = np.asarray(a["keypoints"], float).reshape(17, 3)
        points[:, :2] += rng.normal(0, 0.08 * np.sqrt(a["area"]), (17, 2))
        results.append({"image_id": a["image_id"], "category_id": 1,
                        "keypoints": points.reshape(-1).tolist(), "score": 0.9})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    stats = coco_keypoint_ap(path, annotation_file, verbose=False)
    assert 0.0 < stats["AP"] < 0.9
    assert set(stats) >= {"AP", "AP50", "AP75", "APm", "APl", "AR"}


def test_make_results_rescores_and_suppresses_duplicates(annotation_file):
    people = _ground_truth_people(annotation_file)
    person = people[0]
    points = np.asarray(person["keypoints"], float).reshape(17, 3)[:, :2]
    box = np.asarray(person["bbox"])
    scores = np.full(17, 0.8)
    scores[:5] = 0.1  # below the rescoring threshold, not counted
    results = make_results(
        image_ids=[person["image_id"]] * 2,
        keypoints=[points, points + 0.5],  # a near-duplicate of the same person
        keypoint_scores=[scores, scores * 0.5],
        boxes=[box, box],
        box_scores=[0.9, 0.9],
    )
    assert len(results) == 1
    assert results[0]["score"] == pytest.approx(0.9 * 0.8)
    assert len(results[0]["keypoints"]) == 51
    assert coco_keypoint_ap(results, annotation_file, verbose=False)["AP"] > 0.0


def test_oks_is_one_for_identical_people_and_falls_with_distance():
    points = np.random.default_rng(1).uniform(0, 100, (17, 2))
    similarity = object_keypoint_similarity(points, np.stack([points, points + 5, points + 50]), 5000.0)
    assert similarity[0] == pytest.approx(1.0)
    assert 1.0 > similarity[1] > similarity[2] > 0.0


def test_oks_nms_keeps_the_best_of_overlapping_people():
    points = np.zeros((17, 3))
    points[:, :2] = np.random.default_rng(2).uniform(0, 100, (17, 2))
    far = points.copy()
    far[:, :2] += 300
    people = [
        {"keypoints": points, "score": 0.5, "area": 4000.0},
        {"keypoints": points + [0.2, 0.2, 0], "score": 0.9, "area": 4000.0},
        {"keypoints": far, "score": 0.3, "area": 4000.0},
    ]
    assert oks_nms(people, threshold=0.9) == [1, 2]
    assert oks_nms([], threshold=0.9) == []


def test_rescore_ignores_unconfident_keypoints():
    assert rescore(0.5, [0.9, 0.7, 0.1]) == pytest.approx(0.5 * 0.8)
    assert rescore(0.5, [0.1, 0.1]) == 0.0


def test_bad_results_are_clear_errors(annotation_file):
    with pytest.raises(ValueError, match="results is empty"):
        coco_keypoint_ap([], annotation_file)
    bad = [{"image_id": 123456789, "category_id": 1, "keypoints": [0] * 51, "score": 1.0}]
    with pytest.raises(ValueError, match=r"image ids not in .*Received: image_id=\[123456789\]"):
        coco_keypoint_ap(bad, annotation_file)
