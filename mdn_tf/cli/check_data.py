"""Check a dataset before a long run: decode every image and validate every record.

Reads the annotation files training reads (the same folder layout as
`mdn-tf train --data-dir`; the built-in sample without --data-dir), checks
every record (fields, joint counts, visibility flags, joints and crop
centres against the image, MPII head boxes, COCO ids and references) and
decodes every image in threads with the decoder training uses, so that a
file that passes here is one training reads. Prints each problem by file
and record, then a summary, and exits with status 1 if it found any (0
otherwise). Nothing is written unless --json is given.

    mdn-tf check-data --dataset mpii --data-dir /data/mpii
    mdn-tf check-data --dataset coco --data-dir /data/coco --split valid \\
        --detections /data/coco/person_detections_val2017.json
"""

import os
import sys

from mdn_tf.skeleton import DATASETS

SPLITS = ("train", "valid", "all")


def add_arguments(parser):
    parser.add_argument("--dataset", choices=DATASETS, default="mpii",
                        help="MPII (images/, annot/{train,valid}.json, annot/gt_valid.mat) or COCO "
                             "(train2017/, val2017/, annotations/person_keypoints_*2017.json); "
                             "default mpii")
    parser.add_argument("--data-dir", help="the dataset folder, as for `mdn-tf train`; "
                                           "default: the built-in sample")
    parser.add_argument("--split", choices=SPLITS, default="all",
                        help="which annotation files to check (default all)")
    parser.add_argument("--detections", help="COCO: also check this detector-results JSON "
                                             "against the validation images")
    parser.add_argument("--workers", type=int, default=None,
                        help="decoding threads (default: the number of CPU cores)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write every problem and the counts to this JSON file")


def splits(dataset, data_dir, which="all", detections=None):
    """The `dataset_check.Split`s training reads from `data_dir` (None: the built-in sample)."""
    from mdn_tf.data.dataset_check import Split
    from mdn_tf.data.datasets import SPLITS, split_files

    chosen = []
    for name in SPLITS:
        files = split_files(dataset, name, data_dir)
        chosen.append(Split(name, files.annotations, files.images, files.ground_truth))
    if detections:
        chosen[1].detections = detections
    return [s for s in chosen if which in ("all", s.name)]


def run(args):
    from mdn_tf.cli._common import UserError, require_path

    if args.data_dir is not None:
        require_path(args.data_dir, "--data-dir", "dir")
    if args.detections is not None:
        require_path(args.detections, "--detections", "file")
        if args.dataset != "coco" or args.split == "train":
            raise UserError("--detections applies to the COCO validation split only. Received: "
                            f"--dataset {args.dataset} --split {args.split}")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be a positive integer. Received: --workers {args.workers}")
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        require_path(folder, "--json's folder", "dir")

    import keras

    from mdn_tf.data import dataset_check

    chosen = splits(args.dataset, args.data_dir, args.split, args.detections)
    workers = args.workers or os.cpu_count() or 1
    where = args.data_dir or os.path.dirname(chosen[0].annotations)
    print(f"check-data: {args.dataset} {args.split} split(s) of {where}: reading the records, "
          f"then decoding the images with {workers} threads", flush=True)
    bar = {}

    def progress(kind, done, total):
        if "bar" not in bar:
            bar["bar"] = keras.utils.Progbar(total, unit_name="image")
        bar["bar"].update(done, finalize=done == total)

    report = dataset_check.check(args.dataset, chosen, workers=workers, progress=progress)
    _print_report(report, workers)
    if args.json:
        import json

        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report.to_json(), f, indent=1)
        print(f"report written to {args.json}")
    return 1 if report.problems else 0


def _print_report(report, workers):
    problems = report.problems
    if problems:
        print(f"\n{len(problems)} problem{'s' if len(problems) != 1 else ''}:")
        for problem in problems:
            print(f"  {problem.line()}")
        print("\nproblems by kind:")
        for kind, count in report.counts().items():
            print(f"  {kind:<22} {count}")
    rate = report.images / report.seconds if report.seconds > 0 else 0.0
    verdict = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}" if problems \
        else "no problems"
    print(f"checked {report.records} records and {report.images} images in "
          f"{report.seconds:.1f} s ({rate:.0f} images/s, {workers} threads): {verdict}",
          flush=True)


def main(argv=None):
    from mdn_tf.cli._common import standalone_main

    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf check-data")
