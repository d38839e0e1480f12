"""Run the paper's Tables 1-3 in miniature and a paired verdict (Table 4), with seeds.

    mdn-tf ablation                 # all four tables (~110 min, 2 CPU cores)
    mdn-tf ablation --tables 4      # the paired verdict only (8 seeds)
    mdn-tf ablation --quick         # a few minutes: tiny budget, 2 seeds (smoke test)
    mdn-tf ablation --data-dir /data/mpii --extra --backbone resnet50   # real MPII, GPU

Every trained configuration of `mdn_tf.research.ablation_plan` is trained
once per seed with `mdn-tf train`'s options (a `TrainConfig`) (the seed changes the
initialisation and the data order, not the data); networks are scored with
every voting rule their rows ask for. Each cell is mean ± std over seeds of
PCKh@0.5 Mean, PCKh@0.1 Mean and AUC (validation split, flip test), and
each row carries its paired per-seed differences with 95% intervals.
Table 4's arms are fine-tuned from one post-hoc network per seed (trained
first). Outputs in `--output-dir` (default runs/ablation): `ablation.md`,
`ablation.json` (every seed's scores) and `ablation.png`.

Each job's scores are one small JSON file under `--results-dir` (for the
full run on the built-in sample: docs/results/jobs, kept in the
repository), so an interrupted ablation continues where it stopped, on this
machine or another, and the tables can be rebuilt from the files alone
(`--report-only`).
"""

import argparse
import os
import sys

from mdn_tf.cli._common import (
    UserError,
    require_path,
    require_tensorflow_backend,
    standalone_main,
)

from mdn_tf.research.budget import DEFAULT_EPOCHS, REPOSITORY_RESULTS


def add_arguments(parser):
    parser.add_argument("--tables", type=int, nargs="+", default=[1, 2, 3, 4],
                        choices=(1, 2, 3, 4))
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds 0 .. N-1 per configuration (default 3; 2 with --quick)")
    parser.add_argument("--verdict-seeds", type=int, default=None,
                        help="seeds of Table 4's paired arms (default 8; 2 with --quick)")
    parser.add_argument("--results-dir", default=None,
                        help="one JSON file of scores per job (default: docs/results/jobs for "
                             "the full run on the built-in sample, else OUTPUT_DIR/jobs)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: build the tables from the saved job results")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs per network (default {DEFAULT_EPOCHS}; 1 with --quick)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="trainings side by side, each in its own process (default 2; "
                             "1 with --quick: in this process)")
    parser.add_argument("--quick", action="store_true",
                        help="1 epoch on 32 training people, 16 validation people, 64x64 crops, "
                             "end-to-end rows with the bilinear kernel only")
    parser.add_argument("--output-dir", default=os.path.join("runs", "ablation"))
    parser.add_argument("--data-dir", help="real MPII instead of the built-in sample")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="further `mdn-tf train` options for every run (after --extra)")


def resolve(args):
    """Fills the defaults that depend on --quick and checks the numbers."""
    if args.seeds is None:
        args.seeds = 2 if args.quick else 3
    if args.verdict_seeds is None:
        args.verdict_seeds = 2 if args.quick else 8
    if args.results_dir is None:
        full_sample_run = not (args.quick or args.data_dir or args.extra)
        args.results_dir = (REPOSITORY_RESULTS if full_sample_run
                            else os.path.join(args.output_dir, "jobs"))
    if args.epochs is None:
        args.epochs = 1 if args.quick else DEFAULT_EPOCHS
    if args.jobs is None:
        args.jobs = 1 if args.quick else 2
    for name in ("seeds", "verdict_seeds", "epochs", "jobs"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be a positive integer. "
                            f"Received: --{name} {getattr(args, name)}")
    return args


def run_ablation(args):
    """Checks the options, then trains, scores and reports (`mdn_tf.research.ablation`)."""
    args = resolve(args)
    if args.data_dir:
        require_path(args.data_dir, "--data-dir", "dir")
    require_tensorflow_backend("ablation")
    from mdn_tf.research import ablation

    return ablation.run_ablation(args)


def run(args):
    run_ablation(args)
    return 0


def main(argv=None):
    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf ablation")
