"""Runs a pose model over evaluation records and scores it.

Glue between the tf.data evaluation path (deterministic crops with their
inverse transforms), the in-graph inference (flip test, decoding) and the
metrics (PCKh, COCO OKS AP). Progress is shown with a Keras progress bar.

Shapes: N people, J joints.
"""

import numpy as np
import keras
import tensorflow as tf

from mdn_tf.data.pipeline import build_dataset
from mdn_tf.data.records import PIXELS_PER_SCALE
from mdn_tf.evaluation.coco_ap import coco_keypoint_ap, make_results
from mdn_tf.evaluation.pckh import mpii_pckh
from mdn_tf.inference.geometry import BOX_PADDING
from mdn_tf.inference.predict import predict_keypoints
from mdn_tf.skeleton import get_skeleton


def predict_records(model, records, skeleton, batch_size=32, flip_test=True,
                    quarter_offset=True, output="final", verbose=True):
    """Keypoints in original-image pixels for every record.

    Args:
        model: a pose model returning a dict with `output` maps.
        records: `PoseRecord`s (MPII or COCO readers).
        skeleton: "mpii", "coco" or a `Skeleton`.
        batch_size: crops per step. Defaults to 32.
        flip_test: average with the mirrored crops. Defaults to True.
        quarter_offset: quarter-pixel decoding refinement. Defaults to True.
        output: which maps to decode. Defaults to "final".
        verbose: show a progress bar. Defaults to True.

    Returns:
        keypoints `[N, J, 2]` and scores `[N, J]` in record order.
    """
    skeleton = get_skeleton(skeleton)
    input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
    dataset = build_dataset(records, skeleton, is_training=False, batch_size=batch_size,
                            input_size=input_size, with_meta=True)
    flip_permutation = skeleton.flip_permutation() if flip_test else None

    @tf.function
    def predict(images, inverse):
        return predict_keypoints(model, images, inverse, flip_permutation, quarter_offset, output)

    keypoints = np.zeros((len(records), skeleton.num_joints, 2), np.float64)
    scores = np.zeros((len(records), skeleton.num_joints), np.float64)
    progress = keras.utils.Progbar(len(records), unit_name="person") if verbose else None
    for images, _, meta in dataset:
        batch_keypoints, batch_scores = predict(images, meta["inverse_transform"])
        index = meta["index"].numpy()
        keypoints[index], scores[index] = batch_keypoints.numpy(), batch_scores.numpy()
        if progress is not None:
            progress.add(len(index))
    return keypoints, scores


def person_boxes(records):
    """`[N, 4]` (x, y, w, h) boxes whose padded crops are the records' crops."""
    size = np.stack([r.scale for r in records]) * PIXELS_PER_SCALE / BOX_PADDING
    return np.concatenate([np.stack([r.center for r in records]) - size / 2, size], axis=1)


def evaluate_mpii(model, records, gt_file, threshold=0.5, **predict_arguments):
    """PCKh of `model` on MPII-layout records (rows in the order of `gt_file`).

    Returns:
        (`mpii_pckh` result dict, keypoints `[N, 16, 2]`).
    """
    keypoints, _ = predict_records(model, records, "mpii", **predict_arguments)
    return mpii_pckh(keypoints, gt_file, threshold), keypoints


def evaluate_coco(model, records, annotation_file, verbose=True, **predict_arguments):
    """COCO OKS AP of `model` on COCO records (ground-truth or detected boxes).

    Returns:
        (`coco_keypoint_ap` stats dict, results list in the COCO layout).
    """
    keypoints, scores = predict_records(model, records, "coco", verbose=verbose,
                                        **predict_arguments)
    results = make_results(
        image_ids=[r.image_id for r in records],
        keypoints=keypoints,
        keypoint_scores=scores,
        boxes=person_boxes(records),
        box_scores=[r.score for r in records],
    )
    return coco_keypoint_ap(results, annotation_file, verbose=verbose), results
