"""Run the paper's Tables 1-3 in miniature and a paired verdict (Table 4), with seeds.

    mdn-tf ablation                 # all four tables (~110 min, 2 CPU cores)
    mdn-tf ablation --tables 4      # the paired verdict only (8 seeds)
    mdn-tf ablation --quick         # a few minutes: tiny budget, 2 seeds (smoke test)
    mdn-tf ablation --data-dir /data/mpii --extra --backbone resnet50   # real MPII, GPU

Every trained configuration of `mdn_tf.training.ablation_plan` is trained
once per seed with `mdn-tf train`'s options (the seed changes the
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
# of 50 steps (batch 16 over the 800 training people) = 400 steps; Table 4's
# arms train 8 more epochs from their shared start.
DEFAULT_EPOCHS = 8
QUICK = ["--max-train-records", "32", "--max-valid-records", "16", "--input-size", "64", "64"]
SAMPLE_INPUT, QUICK_INPUT, REAL_INPUT = 128, 64, 256
# The full run on the built-in sample keeps its per-job results in the repository.
REPOSITORY_RESULTS = os.path.join("docs", "results", "jobs")


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


def map_size(args):
    """This run's output map size (input size / 4): the kernels are scaled to it."""
    size = QUICK_INPUT if args.quick else REAL_INPUT if args.data_dir else SAMPLE_INPUT
    if "--input-size" in args.extra:
        size = int(args.extra[args.extra.index("--input-size") + 1])
    return size // 4


def table_seeds(args):
    """`{table: seeds}`: Table 4 (the paired verdict) has its own number of seeds."""
    return {table: list(range(args.verdict_seeds if table == 4 else args.seeds))
            for table in (1, 2, 3, 4)}


def make_jobs(args, rows, configs):
    """One job per (trained config, seed), with the voting rules its rows score.

    A config is trained with as many seeds as its rows need, and a config
    that initialises others with as many as they need. Jobs that start
    from another job's network come after it and name its `model.keras`.
    """
    from mdn_tf.training.ablation_runner import job_folder, result_path

    seeds = table_seeds(args)
    count = {config: 0 for config in configs}
    for row in rows:
        count[row.config] = max(count[row.config], len(seeds[row.table]))
    for config in reversed(configs):  # an initialising config precedes its dependents
        if config.init is not None:
            count[config.init] = max(count[config.init], count[config])
    size = map_size(args)
    jobs = []
    for config in configs:
        rules = []
        for row in rows:
            if row.config == config and row.rule is not None and row.rule not in rules:
                rules.append(row.rule)
        for seed in range(count[config]):
            folder = job_folder(args.output_dir, config, seed)
            argv = config.argv(size) + [
                "--epochs", str(args.epochs), "--seed", str(seed), "--output-dir", folder,
                "--eval-every", "0", "--no-untrained-eval", "--tensorboard-images", "0",
                "--verbose", "0", "--keep-checkpoints", "1",
            ]
            if config.init is not None:
                argv += ["--init-weights", os.path.join(
                    job_folder(args.output_dir, config.init, seed), "model.keras")]
            if args.quick:
                argv += QUICK
            if args.data_dir:
                argv += ["--data-dir", args.data_dir]
            jobs.append({"config": config, "seed": seed, "folder": folder, "rules": rules,
                         "result_file": result_path(args.results_dir, config, seed),
                         "edges": config.edges, "argv": argv + list(args.extra)})
    _force_missing_starts(jobs)
    return jobs


def _force_missing_starts(jobs):
    """Retrains a finished job whose network a pending fine-tuning needs but
    this machine lacks (its scores came from another machine)."""
    from mdn_tf.training.ablation_runner import cached_result

    by_key = {(job["config"], job["seed"]): job for job in jobs}
    for job in jobs:
        init = job["config"].init
        if init is None or cached_result(job["result_file"], job["argv"],
                                         [rule.name for rule in job["rules"]]):
            continue
        start = by_key[(init, job["seed"])]
        if not os.path.exists(os.path.join(start["folder"], "model.keras")):
            start["force"] = True


def run_ablation(args):
    """Trains and scores every job of the chosen tables; returns the summary rows."""
    args = resolve(args)
    if args.data_dir:
        require_path(args.data_dir, "--data-dir", "dir")
    require_tensorflow_backend("ablation")
    from mdn_tf.training.ablation_plan import MDN_KERNELS, plan
    from mdn_tf.training.ablation_report import format_markdown, plot_summary, summarize_rows
    from mdn_tf.training.ablation_runner import load_results, run_jobs

    os.makedirs(args.output_dir, exist_ok=True)
    if not args.data_dir and not args.report_only:
        from mdn_tf.data import sample_data

        sample_data.sample_data()  # generated once here, never by two workers at a time
    # --quick is a smoke test: the end-to-end rows keep the bilinear kernel only.
    rows, configs = plan(args.tables, map_size=map_size(args),
                         mdn_kernels=(("bilinear", 5),) if args.quick else MDN_KERNELS)
    jobs = make_jobs(args, rows, configs)
    print(f"ablation: tables {args.tables}, {len(configs)} networks, {len(jobs)} trainings "
          f"({args.seeds} seeds, {args.verdict_seeds} for Table 4), {args.epochs} epochs each, "
          f"{args.jobs} at a time; output {args.output_dir}, job results {args.results_dir}",
          flush=True)
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

    if args.report_only:
        results = load_results(jobs)
    else:
        # Networks that others start from are trained first, then the rest.
        first = [job for job in jobs if job["config"].init is None]
        then = [job for job in jobs if job["config"].init is not None]
        results = run_jobs(first, args.jobs, progress) + run_jobs(then, args.jobs, progress)
        jobs = first + then
    by_key = {(job["config"].key, job["seed"]): result
              for job, result in zip(jobs, results) if result is not None}
    summary = summarize_rows(rows, by_key, table_seeds(args))
    table = format_markdown(summary)
    minutes = sum(r["seconds"] for r in results if r is not None) / 60 / args.jobs
    source = args.data_dir or "built-in sample"
    header = (f"Ablation on MPII ({source}): {args.epochs} epochs per network "
              f"(Table 4: {args.epochs} more from the shared start), {args.seeds} seeds "
              f"({args.verdict_seeds} for Table 4), about {minutes:.0f} min of training "
              f"with {args.jobs} side by side")
    print(f"\n{header}\n\n{table}", flush=True)
    with open(os.path.join(args.output_dir, "ablation.md"), "w", encoding="utf-8") as f:
        f.write(f"{header}\n\n{table}")
    options = {k: v for k, v in vars(args).items()}
    with open(os.path.join(args.output_dir, "ablation.json"), "w", encoding="utf-8") as f:
        json.dump({"rows": summary, "minutes": minutes, "options": options,
                   "jobs": [{"config": job["config"].key, "seed": job["seed"],
                             "argv": job["argv"], **result}
                            for job, result in zip(jobs, results) if result is not None]},
                  f, indent=1)
    plot_summary(summary, os.path.join(args.output_dir, "ablation.png"))
    return summary


def run(args):
    run_ablation(args)
    return 0


def main(argv=None):
    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf ablation")
