"""Generate the built-in sample data (synthetic MPII and COCO people) and print where it is.

Writes, once, small datasets in the official MPII and COCO layouts to the
cache folder (`<cache>/sample`; see `mdn-tf --help` for the cache) or to
--root, and prints the path of every file and folder. Training, evaluation
and the tests use them when no --data-dir is given. A second run with the
same options finds them and returns at once. The default set (800 + 1000
MPII people, 120 COCO images) takes about 35 s on 2 CPU cores.

    mdn-tf sample-data
    mdn-tf sample-data --root /tmp/sample --mpii-train 16 --mpii-valid 8
"""

import dataclasses
import sys
import time

# The defaults of `mdn_tf.data.sample_data.sample_data` (checked by tests/test_cli.py).
COUNTS = {"mpii_train": 800, "mpii_valid": 1000, "coco_train": 80, "coco_val": 40}


def add_arguments(parser):
    parser.add_argument("--root", help="output folder (default: <cache>/sample)")
    parser.add_argument("--seed", type=int, default=0, help="fixes every pixel and annotation")
    for name, default in COUNTS.items():
        dataset, split = name.split("_")
        parser.add_argument(f"--{dataset}-{split}", dest=name, type=int, default=default,
                            metavar="N", help=f"{dataset.upper()} {split} images "
                                              f"(default {default})")


def run(args):
    from mdn_tf.cli._common import UserError
    from mdn_tf.data import sample_data as sample

    for name in COUNTS:
        if getattr(args, name) < 1:
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} must be a positive integer. "
                            f"Received: {option} {getattr(args, name)}")
    root = args.root or sample.default_root()
    print(f"sample data: {root} (generated once; about 35 s for the default set)", flush=True)
    start = time.time()
    paths = sample.sample_data(
        root, num_mpii_train=args.mpii_train, num_mpii_valid=args.mpii_valid,
        num_coco_train=args.coco_train, num_coco_val=args.coco_val, seed=args.seed,
    )
    for field in dataclasses.fields(paths):
        print(f"  {field.name:18s} {getattr(paths, field.name)}")
    print(f"sample data ready in {time.time() - start:.1f} s under {paths.root}")
    return 0


def main(argv=None):
    from mdn_tf.cli._common import standalone_main

    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf sample-data")
