"""Train a Mass Displacement Network on MPII or COCO (the built-in sample without --data-dir).

Trains with model.fit and ends with the validation table (PCKh@0.5 for MPII,
OKS AP for COCO) of the untrained and the trained network. Without
--data-dir it generates the built-in synthetic sample once (in the cache
folder) and trains a CPU-sized network on it (~5 min on 2 cores for MPII);
with --data-dir the defaults are the paper's (ResNet-50 from ImageNet,
RMSProp 0.0025, x0.99 per epoch).

Writes to --output-dir (default runs/<dataset>_<sample|real>_<backbone>_<variant>_<combine>):
checkpoints/, best.weights.h5, backup/ (a killed run started again with the
same command resumes), logs/ (TensorBoard), model.keras, results.json.

    mdn-tf train                                   # MPII sample, the main job
    mdn-tf train --dataset coco
    mdn-tf train --data-dir /data/mpii             # real MPII, paper defaults
    mdn-tf train --dataset coco --data-dir /data/coco --detections dets.json
"""

import sys

from mdn_tf.skeleton import DATASETS


def add_arguments(parser):
    parser.add_argument("--dataset", choices=DATASETS, default="mpii",
                        help="MPII (16 joints, PCKh) or COCO (17 joints, OKS AP); default mpii")
    # The options are command_line.py's, so the scripts in training/ and this command agree.
    from mdn_tf.training import command_line

    command_line.add_arguments(parser, dataset=None)


def run(args):
    from mdn_tf.cli._common import require_path, require_tensorflow_backend

    if args.data_dir is not None:
        require_path(args.data_dir, "--data-dir", "dir")
    if args.config is not None:
        require_path(args.config, "--config", "file")
    require_tensorflow_backend("train")
    from mdn_tf.training import command_line, run as training

    training.train(command_line.config_from_args(args, args.dataset))
    return 0


def main(argv=None, dataset=None):
    """`mdn-tf train ARGV`; with `dataset`, the options of `training/train_<dataset>.py`.

    The scripts keep their own parser (no --dataset, only that dataset's
    options), so their command lines are unchanged.
    """
    from mdn_tf.cli import _common

    module = sys.modules[__name__]
    if dataset is None:
        return _common.standalone_main(module, argv, prog="mdn-tf train")
    from mdn_tf.training import command_line

    parser = command_line.build_parser(dataset)
    parser.set_defaults(dataset=dataset)
    return _common.run_command(module, parser.parse_args(argv), parser.prog)
