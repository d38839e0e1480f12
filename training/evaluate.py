#!/usr/bin/env python3
"""Evaluates a trained pose model (.keras or SavedModel) on MPII, COCO or the sample.

    python training/evaluate.py --model runs/mpii_sample_small_mdn_noisy_or/model.keras
    python training/evaluate.py --model runs/.../model.keras --data-dir /data/mpii --no-flip
    python training/evaluate.py --dataset coco --model exported/ --data-dir /data/coco \\
        --detections /data/coco/person_detection_results.json

Prints the PCKh table (MPII) or the COCO AP/AR table, and writes the
prediction files to --output-dir: `pred_keypoints_mpii.mat` (MPII toolkit
layout) or `keypoints_results.json` (COCO results layout), plus
`metrics.json`. Without --data-dir it evaluates on the built-in sample's
validation split. A SavedModel (from training/export.py) is run through its
`serving_default` signature on whole images and person boxes, exactly as TF
Serving would run it; its flip test is whatever was exported.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .keras file or a SavedModel folder")
    parser.add_argument("--dataset", choices=("mpii", "coco"), default="mpii")
    parser.add_argument("--data-dir", help="real MPII or COCO folder (as for training); "
                                           "default: the built-in sample")
    parser.add_argument("--detections", help="COCO detector-results JSON for the person boxes")
    parser.add_argument("--no-flip", action="store_true", help="skip the flip test (.keras only)")
    parser.add_argument("--no-quarter-offset", action="store_true",
                        help="plain arg-max decoding (.keras only)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-records", type=int, help="evaluate only the first N people")
    parser.add_argument("--output-dir", help="prediction files; default: beside --model")
    return parser


def load_validation(args, input_size):
    """Validation records (and MPII ground truth or COCO annotation file)."""
    from mdn_tf.training import config as config_lib
    from mdn_tf.training.run import Experiment

    argv = ["--input-size", str(input_size[0]), str(input_size[1])]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    if args.dataset == "coco" and args.detections:
        argv += ["--detections", args.detections]
    if args.max_records and args.dataset == "mpii":  # COCO records are cut below
        argv += ["--max-valid-records", str(args.max_records)]
    experiment = Experiment(config_lib.parse_args(args.dataset, argv))
    records = experiment.valid_records
    if args.dataset == "coco" and args.max_records:
        records = records[: args.max_records]
    truth = experiment.ground_truth if args.dataset == "mpii" else experiment.val_annotations
    return records, truth


def saved_model_keypoints(serve, records):
    """Runs a SavedModel's serving signature person by person."""
    import keras
    import tensorflow as tf

    from mdn_tf.evaluation.evaluate_model import person_boxes

    keypoints, scores = [], []
    progress = keras.utils.Progbar(len(records), unit_name="person")
    # The boxes whose padded crops are the records' crops (same centre and scale).
    for record, box in zip(records, person_boxes(records)):
        image = tf.io.decode_image(tf.io.read_file(record.image), channels=3, expand_animations=False)
        out = serve(images=image[None], boxes=tf.constant(box[None], tf.float32))
        keypoints.append(out["keypoints"].numpy()[0])
        scores.append(out["scores"].numpy()[0])
        progress.add(1)
    return np.stack(keypoints), np.stack(scores)


def main(argv=None):
    args = build_parser().parse_args(argv)
    import keras

    import mdn_tf.models  # noqa: F401  (registers the layers .keras files refer to)
    from mdn_tf import evaluation

    is_saved_model = os.path.isdir(args.model)
    if is_saved_model:
        import tensorflow as tf

        saved = tf.saved_model.load(args.model)
        serve = saved.signatures["serving_default"]
        input_size = tuple(int(v) for v in saved.input_size.numpy())
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
        keypoints, scores = saved_model_keypoints(serve, records)
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


if __name__ == "__main__":
    main()
