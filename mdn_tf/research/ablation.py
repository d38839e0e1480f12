"""The ablation run: jobs from the plan, training, tables, chart.

`run_ablation(args)` is the body of `mdn-tf ablation` / `training/ablation.py`
(`args`: that command's resolved options, `mdn_tf.cli.ablation`). The plan
(`ablation_plan`) says which networks to train and how the tables are laid
out; `make_jobs` turns it into one job per (network, seed), each a set of
`TrainConfig` options; `ablation_runner` trains and scores them;
`ablation_report` writes the tables.
"""

import json
import os
import time

from mdn_tf.data import sample_data
from mdn_tf.research.ablation_plan import MDN_KERNELS, plan
from mdn_tf.research.budget import (
    JOB_OPTIONS,
    QUICK,
    QUICK_INPUT,
    REAL_INPUT,
    SAMPLE_INPUT,
)
from mdn_tf.research.ablation_report import format_markdown, plot_summary, summarize_rows
from mdn_tf.research.ablation_runner import (
    cached_result,
    job_folder,
    job_identity,
    load_results,
    result_path,
    run_jobs,
)
from mdn_tf.training import command_line

def extra_options(args):
    """The `mdn-tf train` options given after --extra, as `TrainConfig` options."""
    return command_line.given_options(command_line.build_parser("mpii").parse_args(args.extra))


def map_size(args):
    """This run's output map size (input size / 4): the kernels are scaled to it."""
    size = QUICK_INPUT if args.quick else REAL_INPUT if args.data_dir else SAMPLE_INPUT
    extra = extra_options(args)
    if "input_size" in extra:
        size = int(extra["input_size"][0])
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
    seeds = table_seeds(args)
    count = {config: 0 for config in configs}
    for row in rows:
        count[row.config] = max(count[row.config], len(seeds[row.table]))
    for config in reversed(configs):  # an initialising config precedes its dependents
        if config.init is not None:
            count[config.init] = max(count[config.init], count[config])
    size = map_size(args)
    extra = extra_options(args)
    jobs = []
    for config in configs:
        rules = []
        for row in rows:
            if row.config == config and row.rule is not None and row.rule not in rules:
                rules.append(row.rule)
        for seed in range(count[config]):
            folder = job_folder(args.output_dir, config, seed)
            options = {**config.options(size), **JOB_OPTIONS, "epochs": args.epochs,
                       "seed": seed, "output_dir": folder}
            if config.init is not None:
                options["init_weights"] = os.path.join(
                    job_folder(args.output_dir, config.init, seed), "model.keras")
            if args.quick:
                options.update(QUICK)
            if args.data_dir:
                options["data_dir"] = args.data_dir
            options.update(extra)
            jobs.append({"config": config, "seed": seed, "folder": folder, "rules": rules,
                         "result_file": result_path(args.results_dir, config, seed),
                         "edges": config.edges, "options": options,
                         "identity": job_identity(options, args.output_dir)})
    _force_missing_starts(jobs)
    return jobs


def _force_missing_starts(jobs):
    """Retrains a finished job whose network a pending fine-tuning needs but
    this machine lacks (its scores came from another machine)."""
    by_key = {(job["config"], job["seed"]): job for job in jobs}
    for job in jobs:
        init = job["config"].init
        if init is None or cached_result(job["result_file"], job["identity"],
                                         [rule.name for rule in job["rules"]]):
            continue
        start = by_key[(init, job["seed"])]
        if not os.path.exists(os.path.join(start["folder"], "model.keras")):
            start["force"] = True


def run_ablation(args):
    """Trains and scores every job of the chosen tables; returns the summary rows."""
    os.makedirs(args.output_dir, exist_ok=True)
    if not args.data_dir and not args.report_only:
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
    options = dict(vars(args))
    with open(os.path.join(args.output_dir, "ablation.json"), "w", encoding="utf-8") as f:
        json.dump({"rows": summary, "minutes": minutes, "options": options,
                   "jobs": [{"config": job["config"].key, "seed": job["seed"],
                             "options": job["options"], **result}
                            for job, result in zip(jobs, results) if result is not None]},
                  f, indent=1, default=str)
    plot_summary(summary, os.path.join(args.output_dir, "ablation.png"))
    return summary
