"""Run the paper's Tables 1-3 in miniature (ablation), with seeds and paired differences.

    mdn-tf ablation                 # all three tables, 3 seeds (~80 min, 2 CPU cores)
    mdn-tf ablation --tables 1      # Table 1 only
    mdn-tf ablation --quick         # ~3 min: tiny budget, 2 seeds, bilinear MDNs (smoke test)
    mdn-tf ablation --data-dir /data/mpii --extra --backbone resnet50   # real MPII, GPU

Every trained configuration of `mdn_tf.training.ablation_plan` is trained
once per seed with `mdn-tf train`'s options (the seed changes the
initialisation and the data order, not the data); post-hoc networks are
scored with every voting rule their rows ask for. Each cell is mean ± std
over seeds of PCKh@0.5 Mean, PCKh@0.1 Mean and AUC (validation split, flip
test), and each MDN row carries its paired per-seed difference against no
voting and against post-hoc voting with a 95% interval. Outputs in
`--output-dir` (default runs/ablation): `ablation.md`, `ablation.json`
(every seed's scores) and `ablation.png`. Finished jobs are kept: the same
command continues an interrupted run.
"""

import argparse
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

# The full run's budget per trained network on the built-in sample: 8 epochs
# of 50 steps (batch 16 over the 800 training people) = 400 steps.
DEFAULT_EPOCHS = 8
QUICK = ["--max-train-records", "32", "--max-valid-records", "16", "--input-size", "64", "64"]


def add_arguments(parser):
    parser.add_argument("--tables", type=int, nargs="+", default=[1, 2, 3], choices=(1, 2, 3))
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds 0 .. N-1 per configuration (default 3; 2 with --quick)")
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
    if args.epochs is None:
        args.epochs = 1 if args.quick else DEFAULT_EPOCHS
    if args.jobs is None:
        args.jobs = 1 if args.quick else 2
    for name in ("seeds", "epochs", "jobs"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be a positive integer. "
                            f"Received: --{name} {getattr(args, name)}")
    return args


def make_jobs(args, rows, configs):
    """One job per (trained config, seed), with the voting rules its rows score."""
    from mdn_tf.training.ablation_runner import job_folder

    jobs = []
    for config in configs:
        rules = []
        for row in rows:
            if row.config == config and row.rule is not None and row.rule not in rules:
                rules.append(row.rule)
        for seed in range(args.seeds):
            folder = job_folder(args.output_dir, config, seed)
            argv = config.argv() + [
                "--epochs", str(args.epochs), "--seed", str(seed), "--output-dir", folder,
                "--eval-every", "0", "--no-untrained-eval", "--tensorboard-images", "0",
                "--verbose", "0", "--keep-checkpoints", "1",
            ]
            if args.quick:
                argv += QUICK
            if args.data_dir:
                argv += ["--data-dir", args.data_dir]
            jobs.append({"config": config, "seed": seed, "folder": folder, "rules": rules,
                         "edges": config.edges, "argv": argv + list(args.extra)})
    return jobs


def run_ablation(args):
    """Trains and scores every job of the chosen tables; returns the summary rows."""
    args = resolve(args)
    if args.data_dir:
        require_path(args.data_dir, "--data-dir", "dir")
    require_tensorflow_backend("ablation")
    from mdn_tf.training.ablation_plan import MDN_KERNELS, plan
    from mdn_tf.training.ablation_report import format_markdown, plot_summary, summarize_rows
    from mdn_tf.training.ablation_runner import run_jobs

    os.makedirs(args.output_dir, exist_ok=True)
    if not args.data_dir:
        from mdn_tf.data import sample_data

        sample_data.sample_data()  # generated once here, never by two workers at a time
    # --quick is a smoke test: the end-to-end rows keep the bilinear kernel only.
    rows, configs = plan(args.tables, mdn_kernels=(("bilinear", 5),) if args.quick else MDN_KERNELS)
    jobs = make_jobs(args, rows, configs)
    print(f"ablation: tables {args.tables}, {len(configs)} networks x {args.seeds} seeds = "
          f"{len(jobs)} trainings, {args.epochs} epochs each, {args.jobs} at a time; "
          f"output {args.output_dir}", flush=True)
    start = time.time()
    finished = []

    def progress(index, job, result):
        finished.append(index)
        elapsed = time.time() - start
        remaining = elapsed / len(finished) * (len(jobs) - len(finished))
        note = "cached" if result.get("cached") else f"{result['seconds'] / 60:.1f} min"
        print(f"[{len(finished)}/{len(jobs)}] {job['config'].key} seed {job['seed']}: "
              f"PCKh@0.5 {result['own']['Mean']:.2f} ({note}); elapsed "
              f"{elapsed / 60:.1f} min, about {remaining / 60:.0f} min left", flush=True)

    results = run_jobs(jobs, args.jobs, progress)
    by_key = {(job["config"].key, job["seed"]): result for job, result in zip(jobs, results)}
    summary = summarize_rows(rows, by_key, list(range(args.seeds)))
    table = format_markdown(summary)
    minutes = (time.time() - start) / 60
    source = args.data_dir or "built-in sample"
    header = (f"Ablation on MPII ({source}): {args.epochs} epochs per network, "
              f"{args.seeds} seeds, {minutes:.1f} min in all")
    print(f"\n{header}\n\n{table}", flush=True)
    with open(os.path.join(args.output_dir, "ablation.md"), "w", encoding="utf-8") as f:
        f.write(f"{header}\n\n{table}")
    options = {k: v for k, v in vars(args).items()}
    with open(os.path.join(args.output_dir, "ablation.json"), "w", encoding="utf-8") as f:
        json.dump({"rows": summary, "minutes": minutes, "options": options,
                   "jobs": [{"config": job["config"].key, "seed": job["seed"],
                             "argv": job["argv"], **result}
                            for job, result in zip(jobs, results)]}, f, indent=1)
    plot_summary(summary, os.path.join(args.output_dir, "ablation.png"))
    return summary


def run(args):
    run_ablation(args)
    return 0


def main(argv=None):
    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf ablation")
