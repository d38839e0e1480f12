"""The command line of `training/train_mpii.py`, `training/train_coco.py` and `mdn-tf train`.

Every option is a field of `config.TrainConfig` (same name, dashes for
underscores) and defaults to "not given": the profile's default then comes
from `config.PROFILES`, so defaults live in one place. An option given on
the command line wins over `--config FILE` (a JSON object of option
names), which wins over the profile.

The options for investigations (the final-map target and its gradient
floor, the additive target's width, gradient clipping) stay out of
`--help`; `--help-advanced` lists them.
"""

import argparse
import json

from mdn_tf.data.bad_images import ON_BAD_IMAGE
from mdn_tf.final_supervision import FORMS
from mdn_tf.models import BACKBONES, VARIANTS
from mdn_tf.ops.voting_config import COMBINES, KERNELS
from mdn_tf.training.config import (
    EDGES,
    OPTIMIZERS,
    OPTION_SECTIONS,
    STRATEGIES,
    ConfigError,
    TrainConfig,
)


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


class _HelpAdvanced(argparse.Action):
    """`--help-advanced`: the help with the investigation options shown."""

    def __init__(self, option_strings, dest, dataset=None, **kwargs):
        self.dataset = dataset
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        full = argparse.ArgumentParser(prog=parser.prog, description=parser.description)
        add_arguments(full, self.dataset, advanced=True)
        full.print_help()
        parser.exit()


def add_arguments(parser, dataset=None, advanced=False):
    """Adds the training options to `parser` and returns it.

    `dataset` None adds both datasets' options (`mdn-tf train --dataset`);
    the config then rejects those of the other dataset. `advanced` shows the
    investigation options in the help (they are always accepted).
    """
    metric = {"mpii": "PCKh", "coco": "OKS AP"}.get(dataset, "PCKh / OKS AP")
    add = parser.add_argument
    add("--help-advanced", action=_HelpAdvanced, dataset=dataset,
        help="show the options for investigations too (final-map target, clipping)")
    add("--data-dir", help=(
        "real MPII (images/ + annot/{train,valid}.json + annot/gt_valid.mat) or COCO "
        "(train2017/, val2017/, annotations/) folder; default: the built-in sample"))
    add("--output-dir", help="checkpoints, backup, logs, final model; default runs/<name>")
    add("--config", help="JSON file of option values (command line wins)")
    add("--backbone", choices=BACKBONES)
    add("--variant", choices=VARIANTS, help="default mdn")
    add("--combine", choices=COMBINES, help="default: additive on the sample, noisy_or on real data")
    add("--kernel", choices=KERNELS, help="default bilinear")
    add("--kernel-size", type=int, help="Gaussian window kf (odd; default 5)")
    add("--kernel-sigma", type=float,
        help="Gaussian standard deviation in map pixels (default kf/6)")
    add("--edges", choices=EDGES,
        help="default: within_part for MPII, cross_part for COCO (the paper's finding)")
    add("--input-size", type=int, nargs=2, metavar=("H", "W"))
    add("--weights", help='ResNet backbone weights: "imagenet", a file, or "none"')
    add("--num-stacks", type=int, help="Hourglass stacks (default 8)")
    add("--hourglass-filters", type=int, help="default 256")
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
    add("--heatmap-weight", type=float, help="default 1")
    add("--offset-weight", type=float, help="default 1")
    add("--final-weight", type=float, help="default 1")
    hidden = (lambda text: text) if advanced else (lambda text: argparse.SUPPRESS)
    add("--final-target", choices=FORMS, help=hidden(
        "final-map target: 'voted' (the heatmap and displacement targets voted like the "
        "model; a perfect network is the loss minimum; default) or 'paper' (disk for "
        "noisy-OR/max, Gaussian for additive)"))
    add("--final-floor", type=float, help=hidden(
        "bound the final-map cross-entropy's gradient by 1/FLOOR (noisy-OR, max)"))
    add("--clipnorm", type=float, help=hidden(
        "clip gradients to this global norm (default: 1 on the sample, none on real data); "
        "0: no clipping"))
    add("--final-sigma", type=float, help=hidden(
        "std (map pixels) of the additive rule's paper-form Gaussian target (default 1)"))
    add("--eval-every", type=int,
        help=f"epochs between validation {metric} evaluations (best-weights metric); "
             "0: none during training, only the final table (default: 5 on the sample, 1 on "
             "real data)")
    add("--no-untrained-eval", dest="untrained_eval", action="store_const", const=False,
        help="skip scoring the untrained network (saves one validation pass)")
    add("--max-train-records", type=int, help="use only the first N training people")
    add("--on-bad-image", choices=ON_BAD_IMAGE,
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
    add("--strategy", choices=STRATEGIES,
        help="multi_worker reads TF_CONFIG and uses a custom loop (keras issue 20585)")
    add("--mixed-precision", action="store_const", const=True)
    add("--jit-compile", action="store_const", const=True)
    add("--seed", type=int, help="default 0")
    add("--deterministic", action="store_const", const=True,
        help="deterministic TF ops (bit-exact resume and reruns on CPU)")
    add("--keep-checkpoints", type=int, help="epoch checkpoints kept (default 3)")
    add("--tensorboard-images", type=int, help="validation images shown per epoch (default 4)")
    add("--restart", action="store_const", const=True,
        help="ignore and delete an existing backup")
    add("--verbose", type=int, choices=(0, 1, 2), help="Keras fit verbosity (default 1)")
    return parser


def given_options(args):
    """The training options set in the parsed `args` (None: not given)."""
    return {name: value for name, value in vars(args).items()
            if name in OPTION_SECTIONS and value is not None}


def config_from_args(args, dataset):
    """The `TrainConfig` of parsed `args`: command line over `--config` over the profile.

    Raises:
        ValueError: a bad config file; a `ConfigError` (its `flag_message`
            names the command-line option) for a bad value.
    """
    options = {}
    if getattr(args, "config", None):  # absent from parsers without --config
        with open(args.config, encoding="utf-8") as f:
            options = json.load(f)
        if not isinstance(options, dict):
            raise ValueError(f"--config must hold a JSON object. Received: {args.config}")
        unknown = sorted(set(options) - set(OPTION_SECTIONS) - {"dataset"})
        if unknown:
            raise ValueError(f"--config {args.config}: unknown option {unknown[0]!r}")
    options.update(given_options(args))
    options["dataset"] = dataset
    try:
        return TrainConfig.from_options(**options)
    except ConfigError as error:
        raise ValueError(error.flag_message) from None


def parse_args(dataset, argv=None):
    """Parses `argv` of one training script into a `TrainConfig`.

    Raises:
        SystemExit (through argparse) for unknown options; ValueError for a
        bad config file or option value.
    """
    return config_from_args(build_parser(dataset).parse_args(argv), dataset)
