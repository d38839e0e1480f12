"""Command line of `training/train_mpii.py` and `training/train_coco.py`.

Every option has two defaults: one for the built-in sample data (no
`--data-dir`; a CPU-sized run that finishes in minutes on 2 cores) and one
for real data (the paper's settings: ResNet-50 from ImageNet, RMSProp,
learning rate 0.0025 decayed by 0.99 every epoch). An option given on the
command line wins over `--config FILE` (JSON, keys are option names with
underscores), which wins over the defaults.
"""

import argparse
import json
import os

from mdn_tf.models import BACKBONES, VARIANTS
from mdn_tf.ops.voting_config import COMBINES, KERNELS

DATASETS = ("mpii", "coco")
STRATEGIES = ("none", "mirrored", "multi_worker")
OPTIMIZERS = ("rmsprop", "adam")
# The pipeline's `on_bad_image` modes (mdn_tf.data.bad_images.ON_BAD_IMAGE; not imported:
# that module loads TensorFlow, and the command-line help must not).
ON_BAD_IMAGE = ("error", "skip")

# Built-in sample: a small network on 128-pixel crops (maps 32 x 32).
# Gradients are clipped to a global norm of 1: the noisy-OR cross-entropy of an
# untrained network sends spikes of 1/m (m ~ 1e-6 at target pixels no vote
# reaches) into the displacement heads, which inflate Adam's second moments
# and freeze those heads for hundreds of steps (docs/models.md, "The noisy-OR
# question"). Clipping closed a 4.9-point gap to the additive rule.
# The sample's voting defaults come from `training/ablation.py` (README): within-part
# additive MDN scored highest (cross-part voting trailed within-part by ~5 points).
SAMPLE_DEFAULTS = dict(
    combine="additive", edges="within_part", backbone="small", weights=None, epochs=20, batch_size=16, optimizer="adam",
    learning_rate=2e-3, lr_decay=0.97, small_filters=32, clipnorm=1.0, eval_every=5,
)
# Real data: the paper's setting (Neverova & Kokkinos, BMVC 2018, Sec. 4). The
# paper finds within-part voting best for single-person MPII and cross-part
# voting for multi-person COCO (Sec. 4, Table 3 and Table 5), hence the
# per-dataset edges below.
PAPER_DEFAULTS = dict(
    combine="noisy_or", edges="within_part", backbone="resnet50", weights="imagenet", epochs=100, batch_size=16, optimizer="rmsprop",
    learning_rate=0.0025, lr_decay=0.99, small_filters=32, clipnorm=None, eval_every=1,
)
INPUT_SIZES = {
    ("mpii", True): (128, 128), ("coco", True): (128, 96),
    ("mpii", False): (256, 256), ("coco", False): (256, 192),
}


def build_parser(dataset):
    """Returns the `argparse.ArgumentParser` of one training script."""
    metric = "PCKh" if dataset == "mpii" else "OKS AP"
    parser = argparse.ArgumentParser(
        prog=f"train_{dataset}.py",
        description=(
            f"Trains a Mass Displacement Network on {dataset.upper()} with model.fit and "
            f"prints the {metric} table of the validation split. Without --data-dir it "
            "generates (once) and trains on the built-in synthetic sample."
        ),
    )
    return add_arguments(parser, dataset)


def add_arguments(parser, dataset=None):
    """Adds the training options to `parser` and returns it.

    `dataset` None adds both datasets' options (`mdn-tf train --dataset`);
    `resolve_args` then rejects those of the other dataset.
    """
    metric = {"mpii": "PCKh", "coco": "OKS AP"}.get(dataset, "PCKh / OKS AP")
    add = parser.add_argument
    add("--data-dir", help=(
        "real MPII (images/ + annot/{train,valid}.json + annot/gt_valid.mat) or COCO "
        "(train2017/, val2017/, annotations/) folder; default: the built-in sample"))
    add("--output-dir", help="checkpoints, backup, logs, final model; default runs/<name>")
    add("--config", help="JSON file of option values (command line wins)")
    add("--backbone", choices=BACKBONES)
    add("--variant", choices=VARIANTS, default="mdn")
    add("--combine", choices=COMBINES, help="default: additive on the sample, noisy_or on real data")
    add("--kernel", choices=KERNELS, default="bilinear")
    add("--kernel-size", type=int, default=5, help="Gaussian window kf (odd)")
    add("--kernel-sigma", type=float, default=None,
        help="Gaussian standard deviation in map pixels (default kf/6)")
    add("--final-target", choices=("voted", "paper"), default="voted",
        help="final-map target: 'voted' (the heatmap and displacement targets voted like "
             "the model; a perfect network is the loss minimum) or 'paper' (disk for "
             "noisy-OR/max, Gaussian for additive)")
    add("--edges", choices=("within_part", "cross_part"),
        help="default: within_part for MPII, cross_part for COCO (the paper's finding)")
    add("--input-size", type=int, nargs=2, metavar=("H", "W"))
    add("--weights", help='ResNet backbone weights: "imagenet", a file, or "none"')
    add("--num-stacks", type=int, default=8, help="Hourglass stacks")
    add("--hourglass-filters", type=int, default=256)
    add("--small-filters", type=int)
    add("--init-weights", metavar="MODEL",
        help="start from the weights of this .keras model, matched by layer name "
             "(fine-tuning; a variant without displacement heads takes the rest)")
    add("--epochs", type=int)
    add("--batch-size", type=int, help="global batch size")
    add("--steps-per-epoch", type=int, help="default: one pass over the training records")
    add("--optimizer", choices=OPTIMIZERS)
    add("--learning-rate", type=float)
    add("--lr-decay", type=float, help="learning-rate factor per epoch")
    add("--heatmap-weight", type=float, default=1.0)
    add("--offset-weight", type=float, default=1.0)
    add("--final-weight", type=float, default=1.0)
    add("--final-floor", type=float, default=None,
        help="bound the final-map cross-entropy's gradient by 1/FLOOR (noisy-OR, max)")
    add("--clipnorm", type=float, default=None,
        help="clip gradients to this global norm (default: 1 on the sample, none on real data); "
             "0: no clipping")
    add("--final-sigma", type=float, default=None,
        help="std (map pixels) of the additive rule's Gaussian final target (default 1)")
    add("--eval-every", type=int, default=None,
        help=f"epochs between validation {metric} evaluations (best-weights metric); "
             "0: none during training, only the final table (default: 5 on the sample, 1 on "
             "real data)")
    add("--no-untrained-eval", dest="untrained_eval", action="store_false",
        help="skip scoring the untrained network (saves one validation pass)")
    add("--max-train-records", type=int, help="use only the first N training people")
    add("--on-bad-image", choices=ON_BAD_IMAGE, default="error",
        help="a training image that cannot be read or decoded: 'error' stops with one line "
             "naming the file and why; 'skip' leaves its people out, names each file once and "
             "counts them at every epoch's end (default error; `mdn-tf check-data` finds them "
             "all before a run)")
    if dataset in ("mpii", None):
        # COCO AP is computed over every annotated person, so COCO keeps them all.
        add("--max-valid-records", type=int, help="use only the first N validation people"
                                                   + (" (MPII)" if dataset is None else ""))
    if dataset in ("coco", None):
        add("--detections", help="detector-results JSON for the final evaluation boxes"
                                 + (" (COCO)" if dataset is None else ""))
    add("--strategy", choices=STRATEGIES, default="none",
        help="multi_worker reads TF_CONFIG and uses a custom loop (keras issue 20585)")
    add("--mixed-precision", action="store_true")
    add("--jit-compile", action="store_true")
    add("--seed", type=int, default=0)
    add("--deterministic", action="store_true",
        help="deterministic TF ops (bit-exact resume and reruns on CPU)")
    add("--keep-checkpoints", type=int, default=3, help="epoch checkpoints kept")
    add("--tensorboard-images", type=int, default=4, help="validation images shown per epoch")
    add("--restart", action="store_true", help="ignore and delete an existing backup")
    add("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras fit verbosity")
    return parser


def parse_args(dataset, argv=None):
    """Parses `argv`, merges `--config` and fills the profile defaults.

    Returns:
        An `argparse.Namespace` with every option resolved (no None left
        where a default exists) and `sample` True when no `--data-dir` is set.

    Raises:
        SystemExit (through argparse) for unknown options; ValueError for a
        bad config file or option value.
    """
    parser = build_parser(dataset)
    return resolve_args(parser, parser.parse_args(argv), dataset)


# Options that only one dataset has (`add_arguments(parser, None)` adds both).
DATASET_OPTIONS = {"max_valid_records": "mpii", "detections": "coco"}


def resolve_args(parser, args, dataset):
    """Merges `--config` and fills the profile defaults of `parser`'s parsed `args`.

    Returns:
        `args`, with every option resolved (see `parse_args`).

    Raises:
        ValueError for a bad config file or option value.
    """
    for key, owner in DATASET_OPTIONS.items():
        if owner != dataset and getattr(args, key, None) is not None:
            raise ValueError(f"--{key.replace('_', '-')} applies to --dataset {owner} only. "
                             f"Received: --dataset {dataset}")
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            values = json.load(f)
        if not isinstance(values, dict):
            raise ValueError(f"--config must hold a JSON object. Received: {args.config}")
        defaults = parser.parse_args([])
        for key, value in values.items():
            if not hasattr(args, key):
                raise ValueError(f"--config {args.config}: unknown option {key!r}")
            if getattr(args, key) == getattr(defaults, key):  # not set on the command line
                setattr(args, key, value)
    args.dataset = dataset
    args.sample = args.data_dir is None
    profile = SAMPLE_DEFAULTS if args.sample else PAPER_DEFAULTS
    if dataset == "coco":  # multi-person: cross-part voting (paper, Table 5)
        profile = {**profile, "edges": "cross_part"}
    if args.sample and dataset == "coco":
        # The COCO sample has ~150 training people (9 steps an epoch), the MPII one 800;
        # the ablation measured MPII only, so COCO keeps the paper's voting.
        profile = {**profile, "epochs": 40, "combine": "noisy_or", "edges": "cross_part"}
    for key, value in profile.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not args.clipnorm:  # 0 switches clipping off
        args.clipnorm = None
    if args.weights in ("none", "None", ""):
        args.weights = None
    if not args.backbone.startswith("resnet"):
        args.weights = None
    if args.input_size is None:
        args.input_size = INPUT_SIZES[(dataset, args.sample)]
    args.input_size = tuple(args.input_size)
    for name in ("epochs", "batch_size", "keep_checkpoints"):
        value = getattr(args, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer. "
                             f"Received: {value!r}")
    if not isinstance(args.eval_every, int) or args.eval_every < 0:
        raise ValueError(f"--eval-every must be a non-negative integer. "
                         f"Received: {args.eval_every!r}")
    if args.restart and args.strategy == "multi_worker":
        # Workers would race to delete and read the shared folder.
        raise ValueError(
            "--restart cannot be used with --strategy multi_worker; delete the output "
            f"folder before starting the workers. Received: --output-dir {args.output_dir}"
        )
    if args.init_weights and not os.path.isfile(args.init_weights):
        raise ValueError(f"--init-weights must be a .keras model file. "
                         f"Received: --init-weights {args.init_weights} (no such file)")
    if not 0 < args.lr_decay <= 1:
        raise ValueError(f"--lr-decay must be in (0, 1]. Received: {args.lr_decay!r}")
    if args.output_dir is None:
        source = "sample" if args.sample else "real"
        args.output_dir = os.path.join(
            "runs", f"{dataset}_{source}_{args.backbone}_{args.variant}_{args.combine}"
        )
    return args
