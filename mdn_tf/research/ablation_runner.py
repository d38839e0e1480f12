"""Runs the ablation's training jobs: one (config, seed) per job, resumable.

A job trains one `TrainedConfig` with one seed through the same entry point
as `training/train_mpii.py` (`mdn_tf.training.train` of a `TrainConfig`, so
a row of the tables is exactly what a user gets from that command line),
then, for post-hoc networks, scores the trained network with every voting
rule its rows ask for (`mdn_tf.research.voting_rules`). Its scores go to
its own small JSON file (`result_file`, kept in the repository under
docs/results/jobs for the full run), apart from the trained network
(`folder`); a job whose result exists with the same training options
(`job_identity`) is not run again, so an interrupted ablation continues
where it stopped, on this machine or on another that has the result files,
under any output folder.

Jobs run in-process one after another (`jobs=1`) or in `jobs` fresh worker
processes, each with `cpu_count // jobs` TensorFlow threads: the small
network does not keep two cores busy, and two one-thread trainings side by
side finish about 1.5x sooner than one after the other.
"""

import concurrent.futures
import json
import multiprocessing
import os
import time

import keras

import mdn_tf.models  # noqa: F401  (registers the layers of model.keras)
from mdn_tf.inference.decode import DECODE_VERSION
from mdn_tf.models.builder import resolve_edges
from mdn_tf.research.voting_rules import evaluate_mpii_voting_rules
from mdn_tf.training.config import TrainConfig
from mdn_tf.training.experiment import Experiment
from mdn_tf.training.run import train

METRICS = ("Mean", "Mean@0.1", "AUC")
RESULT_FILE = "ablation_result.json"  # the result file of older runs, inside the job folder
# Options that say where and how loudly a job runs, not what it trains.
_NOT_IDENTITY = ("output_dir", "init_weights", "verbose", "restart")


def job_folder(output_dir, config, seed):
    """Where one job's network trains (checkpoints, model.keras)."""
    return os.path.join(output_dir, "runs", config.key, f"seed_{seed}")


def result_path(results_dir, config, seed):
    """One job's scores: `<results_dir>/<config key>/seed_<seed>.json`."""
    return os.path.join(results_dir, config.key, f"seed_{seed}.json")


def job_identity(options, output_dir):
    """What a job trains: its full training options (profile defaults filled in),
    without where it runs; its start network as a path relative to `output_dir`.

    Two jobs with the same identity train the same network, on this machine or
    another and under any output folder, so a saved result can stand in for either.
    """
    resolved = TrainConfig.from_options(**{**options, "init_weights": None}).to_options()
    identity = {key: value for key, value in resolved.items() if key not in _NOT_IDENTITY}
    if options.get("init_weights"):
        identity["init_weights"] = os.path.relpath(options["init_weights"], output_dir)
    return identity


def _pick(metrics):
    return {name: float(metrics[name]) for name in METRICS}


def _saved_result(path):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cached_result(path, identity, rule_names):
    """The job's saved result (file `path`) when it trained `identity`, covers
    `rule_names` and was decoded by the current decoder (`DECODE_VERSION`)."""
    result = _saved_result(path)
    if result is None or result.get("identity") != identity:
        return None
    if result.get("decode_version", 1) != DECODE_VERSION:
        return None
    if not set(rule_names) <= set(result.get("rules", {})):
        return None
    return result


def trained_model(folder, path, identity):
    """`model.keras` of a finished training of `identity` in `folder`, else None.

    `path` is the job's result file. A result saved by an older decoder
    still names a finished training: its network is scored again, not
    trained again.
    """
    result = _saved_result(path)
    path = os.path.join(folder, "model.keras")
    if result is None or result.get("identity") != identity or not os.path.exists(path):
        return None
    return path


def load_results(jobs):
    """The saved result of each job (None where it has none yet), for reports."""
    return [cached_result(job["result_file"], job["identity"],
                          [rule.name for rule in job["rules"]])
            for job in jobs]


def run_job(job):
    """Trains one config with one seed; returns (and saves) its scores.

    Args:
        job: a dict with "options" (`TrainConfig.from_options` options, seed
            and output folder included), "identity" (`job_identity`),
            "folder", "result_file", "rules" (`VotingRule`s to score the
            network with), "edges" (the config's voting mode) and optionally
            "force" (train even when a result is saved: a job that
            initialises others needs its model file).

    Returns:
        `{"identity", "own": {metric: value}, "rules": {rule name: {metric:
        value}}, "seconds", "decode_version"}`.
    """
    cached = cached_result(job["result_file"], job["identity"],
                           [rule.name for rule in job["rules"]])
    if cached is not None and not job.get("force"):
        cached["cached"] = True
        return cached
    began = time.time()
    keras.backend.clear_session()
    # Built once: training and the scoring below read the same records.
    config = TrainConfig.from_options(**job["options"])
    experiment = Experiment(config)
    saved = trained_model(job["folder"], job["result_file"], job["identity"])
    if saved is None or job.get("force"):
        own = train(config.replace(restart=True), experiment)
        saved = os.path.join(job["folder"], "model.keras")
        model = keras.models.load_model(saved) if job["rules"] else None
    else:  # trained before, scored by an older decoder: score it again
        model = keras.models.load_model(saved)
        own = experiment.evaluate(model, flip_test=True)
    rules = {}
    if job["rules"]:
        scores = evaluate_mpii_voting_rules(
            model, experiment.valid_records, experiment.ground_truth, job["rules"],
            resolve_edges(job["edges"], experiment.codec.num_joints, "mpii"),
            epsilon_c=experiment.codec.heatmap_radius,
        )
        rules = {name: _pick(result) for name, result in scores.items()}
    result = {"identity": job["identity"], "own": _pick(own), "rules": rules,
              "seconds": time.time() - began, "decode_version": DECODE_VERSION}
    os.makedirs(os.path.dirname(job["result_file"]), exist_ok=True)
    with open(job["result_file"], "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return result


def _limit_threads(jobs):
    """TensorFlow threads per worker, set before the workers import TensorFlow."""
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    os.environ["TF_NUM_INTRAOP_THREADS"] = threads
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"


def run_jobs(jobs_list, jobs=1, on_done=None):
    """Runs every job; returns results in `jobs_list` order.

    Args:
        jobs_list: job dicts (see `run_job`).
        jobs: worker processes; 1 runs in this process. Defaults to 1.
        on_done: `on_done(index, job, result)` after each job, for progress.
    """
    results = [None] * len(jobs_list)
    if jobs <= 1:
        for index, job in enumerate(jobs_list):
            results[index] = run_job(job)
            if on_done:
                on_done(index, job, results[index])
        return results
    _limit_threads(jobs)
    # A fresh process per job: no TensorFlow state carries from one run to the next.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context,
                                                max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_job, job): index for index, job in enumerate(jobs_list)}
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            if on_done:
                on_done(index, jobs_list[index], results[index])
    return results
