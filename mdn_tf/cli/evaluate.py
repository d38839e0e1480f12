"""Evaluate a trained pose model (.keras or SavedModel) on MPII, COCO or the sample.

    mdn-tf evaluate --model runs/mpii_sample_small_mdn_noisy_or/model.keras
    mdn-tf evaluate --model runs/.../model.keras --data-dir /data/mpii --no-flip
    mdn-tf evaluate --dataset coco --model exported/mdn/1 --data-dir /data/coco \\
        --detections /data/coco/person_detection_results.json

Prints the PCKh table (MPII) or the COCO AP/AR table, and writes the
prediction files to --output-dir: `pred_keypoints_mpii.mat` (MPII toolkit
layout) or `keypoints_results.json` (COCO results layout), plus
`metrics.json`. Without --data-dir it evaluates on the built-in sample's
validation split. A SavedModel (from `mdn-tf export`) is run through its
`serving_default` signature, each photo sent once with the boxes of all its
people, exactly as TF Serving would run it; its flip test is whatever was
exported.
"""

import json
import os
import sys
import time

from mdn_tf.cli._common import (
    UserError,
    require_path,
    require_tensorflow_backend,
    standalone_main,
)
from mdn_tf.skeleton import DATASETS


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="a .keras file or a SavedModel folder")
    parser.add_argument("--dataset", choices=DATASETS, default="mpii")
    parser.add_argument("--data-dir", help="real MPII or COCO folder (as for training); "
                                           "default: the built-in sample")
    parser.add_argument("--detections", help="COCO detector-results JSON for the person boxes")
    parser.add_argument("--no-flip", action="store_true", help="skip the flip test (.keras only)")
    parser.add_argument("--no-quarter-offset", action="store_true",
                        help="plain arg-max decoding (.keras only)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-records", type=int, help="evaluate only the first N people")
    parser.add_argument("--output-dir", help="prediction files; default: beside --model")


def run(args):
    require_path(args.model, "--model", "any")
    if args.data_dir is not None:
        require_path(args.data_dir, "--data-dir", "dir")
    if args.detections is not None:
        require_path(args.detections, "--detections", "file")
    for option, value in (("--batch-size", args.batch_size), ("--max-records", args.max_records)):
        if value is not None and value < 1:
            raise UserError(f"{option} must be a positive integer. Received: {option} {value}")
    require_tensorflow_backend("evaluate")
    evaluate(args)
    return 0


def evaluate(args):
    """Runs the evaluation `args` describe; returns the metrics dict (also in metrics.json)."""
    import keras

    import mdn_tf.models  # noqa: F401  (registers the layers .keras files refer to)
    from mdn_tf import evaluation
    from mdn_tf.cli._validation import load_validation

    is_saved_model = os.path.isdir(args.model)
    if is_saved_model:
        from mdn_tf.inference.predictor import PosePredictor

        predictor = PosePredictor(args.model)
        input_size = predictor.input_size
    else:
        model = keras.models.load_model(args.model)
        input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
    records, truth = load_validation(args, input_size)
    output_dir = args.output_dir or (
        args.model if is_saved_model else os.path.dirname(os.path.abspath(args.model))
    )
    os.makedirs(output_dir, exist_ok=True)
    print(f"{args.dataset}: {len(records)} people, model {args.model}")

    start = time.time()
    flip = "exported" if is_saved_model else ("off" if args.no_flip else "on")
    if is_saved_model:
        keypoints, scores = _saved_model_keypoints(predictor, records)
    else:
        keypoints, scores = evaluation.predict_records(
            model, records, args.dataset, batch_size=args.batch_size,
            flip_test=not args.no_flip, quarter_offset=not args.no_quarter_offset,
        )
    seconds = time.time() - start

    if args.dataset == "mpii":
        result = evaluation.mpii_pckh(keypoints, truth)
        path = evaluation.write_mpii_predictions(
            os.path.join(output_dir, "pred_keypoints_mpii.mat"), keypoints,
            [os.path.basename(r.image) for r in records],
        )
        table = evaluation.format_pckh_table(result)
    else:
        from mdn_tf.evaluation.evaluate_model import person_boxes

        results = evaluation.make_results(
            [r.image_id for r in records], keypoints, scores, person_boxes(records),
            [r.score for r in records],
        )
        result = evaluation.coco_keypoint_ap(results, truth, verbose=False)
        path = os.path.join(output_dir, "keypoints_results.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(results, f)
        table = evaluation.format_coco_table(result)
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump({"dataset": args.dataset, "model": args.model, "flip_test": flip,
                   "people": len(records), "seconds": seconds, "metrics": result}, f, indent=1)
    print(f"\n{args.dataset} validation, {len(records)} people, flip test {flip}, "
          f"{seconds:.1f} s ({1000 * seconds / max(len(records), 1):.1f} ms/person)")
    print(table)
    print(f"predictions: {path}")
    return result


def _saved_model_keypoints(predictor, records):
    """Runs a SavedModel photo by photo, all of a photo's people in one call."""
    import keras
    import numpy as np

    from mdn_tf.evaluation.evaluate_model import person_boxes
    from mdn_tf.inference.images import read_image

    boxes = person_boxes(records)  # their padded crops are the records' crops
    by_image = {}
    for index, record in enumerate(records):
        by_image.setdefault(record.image, []).append(index)
    num_joints = predictor.skeleton.num_joints
    keypoints = np.zeros((len(records), num_joints, 2), np.float64)
    scores = np.zeros((len(records), num_joints), np.float64)
    progress = keras.utils.Progbar(len(records), unit_name="person")
    for image_path, indices in by_image.items():
        keypoints[indices], scores[indices] = predictor(read_image(image_path), boxes[indices])
        progress.add(len(indices))
    return keypoints, scores


def main(argv=None):
    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf evaluate")


if __name__ == "__main__":
    sys.exit(main())
