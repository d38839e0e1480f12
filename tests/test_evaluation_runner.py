"""Evaluation runners on the built-in sample data."""

import numpy as np
import pytest

from mdn_tf.data import build_dataset, coco, mpii, sample_data
from mdn_tf.evaluation import evaluate_coco, evaluate_mpii, mpii_pckh, predict_records
from mdn_tf.inference import decode_keypoints, maps_to_image
from mdn_tf.models import build_pose_model


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return sample_data.sample_data(
        tmp_path_factory.mktemp("sample"), num_mpii_train=2, num_mpii_valid=6,
        num_coco_train=2, num_coco_val=3,
    )


def test_decoding_the_target_maps_recovers_the_annotations(sample):
    # Ties the codec (encoding) to the inference path (decoding and the
    # inverse crop transform): perfect maps must score PCKh 100.
    records = mpii.load_annotations(sample.mpii_valid)
    dataset = build_dataset(records, "mpii", batch_size=8, input_size=(128, 128),
                            with_meta=True)
    images, targets, meta = next(iter(dataset))
    keypoints, _ = decode_keypoints(targets["final"], quarter_offset=False)
    at_image = maps_to_image(keypoints, meta["inverse_transform"], stride=4.0).numpy()
    visible = meta["visibility"].numpy() > 0
    inside = targets["joint_weights"].numpy() > 0
    errors = np.linalg.norm(at_image - meta["joints"].numpy(), axis=-1)[visible & inside]
    # The disk targets (radius 1) put the arg-max at most one map pixel from
    # the joint; one map pixel is 4 input pixels times the crop's zoom.
    zoom = meta["scale"].numpy().max() * 200 / 128
    assert errors.max() <= 4 * zoom * 1.01
    result = mpii_pckh(at_image[: len(records)], sample.mpii_gt_valid)
    assert result["Mean"] > 90


def test_predict_records_keeps_record_order_and_shapes(sample):
    records = mpii.load_annotations(sample.mpii_valid)
    model = build_pose_model("small", "mdn", input_shape=(64, 64, 3))
    keypoints, scores = predict_records(model, records, "mpii", batch_size=4, verbose=False)
    assert keypoints.shape == (6, 16, 2) and scores.shape == (6, 16)
    single, _ = predict_records(model, records[3:4], "mpii", verbose=False)
    np.testing.assert_allclose(single[0], keypoints[3], atol=1e-3)


def test_evaluate_mpii_and_coco_run_end_to_end(sample):
    model = build_pose_model("small", "mdn", input_shape=(64, 64, 3))
    result, keypoints = evaluate_mpii(model, mpii.load_annotations(sample.mpii_valid),
                                      sample.mpii_gt_valid, verbose=False)
    assert {"Head", "Mean", "Mean@0.1", "AUC"} <= set(result)
    records = coco.load_annotations(sample.coco_val, detections=sample.coco_detections,
                                    image_dir=sample.coco_val_images, input_size=(64, 48))
    coco_model = build_pose_model("small", "mdn", num_joints=17, input_shape=(64, 48, 3))
    stats, results = evaluate_coco(coco_model, records, sample.coco_val, verbose=False)
    assert 0.0 <= stats["AP"] <= 1.0
    assert all(len(r["keypoints"]) == 51 for r in results)
