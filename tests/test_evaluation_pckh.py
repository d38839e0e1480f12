"""PCKh agrees with the standard MPII evaluation."""

import numpy as np
import pytest
import scipy.io

from mdn_tf.evaluation import format_pckh_table, mpii_pckh


def standard_mpii_evaluation(predictions_0_based, gt_file, threshold=0.5):
    """The widely used MPII evaluation (1-based, joint-major arrays), kept
    in its original vectorised shape as the independent reference."""
    gt = scipy.io.loadmat(gt_file)
    jnt_visible = 1 - gt["jnt_missing"]
    pos_pred_src = np.transpose(predictions_0_based + 1.0, [1, 2, 0])
    uv_err = np.linalg.norm(pos_pred_src - gt["pos_gt_src"], axis=1)
    headsizes = np.linalg.norm(gt["headboxes_src"][1] - gt["headboxes_src"][0], axis=0) * 0.6
    scaled_uv_err = uv_err / (headsizes * np.ones((len(uv_err), 1)))
    jnt_count = np.sum(jnt_visible, axis=1)
    less_than = (scaled_uv_err <= threshold) * jnt_visible
    pckh = 100.0 * np.sum(less_than, axis=1) / jnt_count
    jnt_count = np.ma.array(jnt_count, mask=False)
    jnt_count.mask[6:8] = True
    ratio = jnt_count / np.sum(jnt_count).astype(np.float64)
    return {
        "Head": pckh[9],
        "Shoulder": 0.5 * (pckh[13] + pckh[12]),
        "Elbow": 0.5 * (pckh[14] + pckh[11]),
        "Wrist": 0.5 * (pckh[15] + pckh[10]),
        "Hip": 0.5 * (pckh[3] + pckh[2]),
        "Knee": 0.5 * (pckh[4] + pckh[1]),
        "Ankle": 0.5 * (pckh[5] + pckh[0]),
        "Mean": float(np.sum(pckh * ratio)),
    }


@pytest.fixture
def gt_file(real_data_dir):
    return real_data_dir / "mpii" / "gt_valid.mat"


def _ground_truth(gt_file):
    gt = scipy.io.loadmat(gt_file)
    joints = np.transpose(gt["pos_gt_src"], [2, 0, 1]) - 1.0
    boxes = gt["headboxes_src"]
    head_sizes = 0.6 * np.linalg.norm(boxes[1] - boxes[0], axis=0)
    return joints, head_sizes, gt["jnt_missing"].T == 0


def test_perfect_predictions_score_100(gt_file):
    joints, _, _ = _ground_truth(gt_file)
    assert joints.shape == (2958, 16, 2)
    result = mpii_pckh(joints, gt_file)
    for key in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean",
                "Mean@0.1", "AUC"):
        assert result[key] == 100.0


def test_shifted_predictions_give_hand_computed_scores(gt_file):
    joints, head_sizes, annotated = _ground_truth(gt_file)
    # Even rows miss by 0.445 head sizes (inside 0.5), odd rows by 0.555.
    shift = np.where(np.arange(len(joints)) % 2 == 0, 0.445, 0.555) * head_sizes
    predictions = joints + np.stack([shift * 0.6, shift * 0.8], axis=-1)[:, None, :]
    result = mpii_pckh(predictions, gt_file)
    pooled = [j for j in range(16) if j not in (6, 7)]
    even = annotated[::2, pooled].sum() / annotated[:, pooled].sum()
    assert result["Mean"] == pytest.approx(100 * even, abs=1e-9)
    assert result["Head"] == pytest.approx(100 * annotated[::2, 9].sum() / annotated[:, 9].sum())
    assert result["Mean@0.1"] == 0.0
    # AUC over t = 0, 0.01, ..., 0.5: PCKh(t) is 0 below 0.445 and the even
    # share for the six thresholds 0.45 ... 0.50.
    expected_auc = (6 * 100 * even) / 51
    assert result["AUC"] == pytest.approx(expected_auc, abs=1e-9)


def test_matches_standard_evaluation_on_noisy_predictions(gt_file):
    joints, head_sizes, _ = _ground_truth(gt_file)
    rng = np.random.default_rng(0)
    # Errors of a realistic model: most joints within half a head, a tail beyond.
    noise = rng.standard_t(3, size=joints.shape) * 0.25 * head_sizes[:, None, None]
    predictions = joints + noise
    ours = mpii_pckh(predictions, gt_file)
    for threshold in (0.5, 0.1):
        standard = standard_mpii_evaluation(predictions, gt_file, threshold)
        mine = mpii_pckh(predictions, gt_file, threshold=threshold)
        for key, value in standard.items():
            assert mine[key] == pytest.approx(value, abs=0.01), (threshold, key)
    assert 40 < ours["Mean"] < 95
    table = format_pckh_table(ours)
    assert "Wrist" in table and f"{ours['Mean']:.2f}" in table


def test_wrong_prediction_shape_is_a_clear_error(gt_file):
    with pytest.raises(ValueError, match=r"predictions must have shape \[2958, 16, 2\].*"
                                         r"Received: shape \[5, 16, 2\]"):
        mpii_pckh(np.zeros((5, 16, 2)), gt_file)


def test_prediction_file_round_trip_in_the_toolkit_layout(tmp_path):
    from mdn_tf.evaluation import read_mpii_predictions, write_mpii_predictions

    predictions = np.random.default_rng(0).uniform(0, 500, (3, 16, 2))
    path = write_mpii_predictions(tmp_path / "pred_keypoints_mpii.mat", predictions,
                                  ["a.jpg", "a.jpg", "b.jpg"])
    np.testing.assert_allclose(read_mpii_predictions(path), predictions)
    mat = scipy.io.loadmat(path)
    entry = mat["pred"][0, 2]
    assert entry["image"][0, 0]["name"][0] == "b.jpg"
    point = entry["annorect"][0, 0]["annopoints"][0, 0]["point"][0, 5]
    assert int(point["id"][0, 0]) == 5
    assert point["x"][0, 0] == pytest.approx(predictions[2, 5, 0] + 1.0)
    with pytest.raises(ValueError, match=r"image_names must name one image per prediction \(3\)"):
        write_mpii_predictions(tmp_path / "x.mat", predictions, ["a.jpg"])
    with pytest.raises(ValueError, match=r"predictions must have shape \[N, 16, 2\]"):
        write_mpii_predictions(tmp_path / "x.mat", predictions[:, :15], ["a"] * 3)
