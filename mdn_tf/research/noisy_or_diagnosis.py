"""Why does an end-to-end noisy-OR MDN score what it scores? Measurements on ablation runs.

    python training/ablation.py --tables 1            # trains the networks measured here
    python training/diagnose_noisy_or.py              # reads runs/ablation, ~5 min on 2 cores

(`training/diagnose_noisy_or.py` runs `main` of this module.)

For every seed, the end-to-end MDNs of Table 1 trained with the noisy-OR
and with the additive rule (bilinear kernel) are measured side by side:

1. where their errors fall (precise / correct / near miss / gross miss, in
   head sizes) and their PCKh on the image groups of the built-in sample
   (occluded, truncated, second person, clean);
2. each network scored with its own rule and with the other one (voting
   owns no weights): does the gap follow the network or the rule?
3. the tops of their final maps: saturated maxima, pixels tied at the top,
   tops split between modes;
4. each loss term's value and gradient norm (all trainable weights) on
   training batches, at initialisation and after training, and the
   per-epoch loss terms logged during training;
5. the final-map target: the share of positive pixels.

Prints a report and writes `<ablation-dir>/noisy_or_diagnosis.md` and
`.json`.
"""

import argparse
import glob
import json
import os

import keras
import numpy as np
import tensorflow as tf

import mdn_tf.models  # noqa: F401  (registers the layers of model.keras)
from mdn_tf.data import sample_data
from mdn_tf.data.pipeline import build_dataset
from mdn_tf.evaluation import evaluate_mpii, predict_records
from mdn_tf.evaluation.pckh import normalised_errors, pckh_table
from mdn_tf.models.builder import resolve_edges
from mdn_tf.research.map_diagnostics import (
    bootstrap_pckh_error,
    error_bins,
    peak_statistics,
)
from mdn_tf.research.voting_rules import VotingRule, evaluate_mpii_voting_rules
from mdn_tf.training.config import TrainConfig
from mdn_tf.training.experiment import Experiment

MODELS = {"noisy_or": "mdn_w32_within_noisy_or_bilinear",
          "additive": "mdn_w32_within_additive_bilinear"}
STN = "stn_w32_within_noisy_or"
GROUPS = ("clean", "occluded", "truncated", "second person")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation-dir", default=os.path.join("runs", "ablation"))
    parser.add_argument("--results-dir", default=os.path.join("docs", "results", "jobs"),
                        help="the ablation's per-job result files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=4,
                        help="training batches for the loss and gradient measurements")
    return parser


def image_groups(paths, count):
    """`{group: [N] bool}` of the validation images, from difficulties.json."""

    with open(paths.mpii_difficulties, encoding="utf-8") as f:
        rows = [row for row in json.load(f) if row["split"] == "valid"][:count]
    occluded = np.array([row["occluded_joints"] > 0 for row in rows])
    truncated = np.array([bool(row["truncated"]) for row in rows])
    second = np.array([bool(row["distractor"]) for row in rows])
    return {"clean": ~(occluded | truncated | second), "occluded": occluded,
            "truncated": truncated, "second person": second}


def logged_losses(folder):
    """Per-epoch training losses from the run's TensorBoard events."""

    curves = {}
    for path in sorted(glob.glob(os.path.join(folder, "logs", "train", "events.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag.startswith("epoch_") and value.tag.endswith("loss"):
                    number = float(tf.make_ndarray(value.tensor))
                    curves.setdefault(value.tag[6:], {})[int(event.step)] = number
    return {tag: [values[k] for k in sorted(values)] for tag, values in curves.items()}


def loss_gradients(experiment, model, batches):
    """Mean value and global gradient norm of each weighted loss term."""

    losses, weights = experiment.losses(model.output_names)
    dataset = experiment.train_dataset(model.output_names, epoch=0).take(batches)
    values = {name: [] for name in losses}
    norms = {name: [] for name in losses}
    for images, targets in dataset:
        for name, loss in losses.items():
            with tf.GradientTape() as tape:
                outputs = model(images, training=True)
                term = weights[name] * loss(targets[name], outputs[name])
            gradients = tape.gradient(term, model.trainable_variables)
            gradients = [g for g in gradients if g is not None]
            values[name].append(float(term))
            norms[name].append(float(tf.linalg.global_norm(gradients)) if gradients else 0.0)
    return {name: {"value": float(np.mean(values[name])), "gradient_norm": float(np.mean(norms[name]))}
            for name in losses}


def measure(experiment, model, folder, groups, batches):
    """Every measurement of one trained network."""
    gt = experiment.ground_truth
    keypoints, _ = predict_records(model, experiment.valid_records, "mpii", verbose=False)
    errors = normalised_errors(keypoints, gt["joints"], gt["head_boxes"])
    annotated = ~gt["missing"]
    result = {"bins": error_bins(errors, annotated),
              "sampling_error": bootstrap_pckh_error(errors, annotated),
              "groups": {name: pckh_table(errors[mask], annotated[mask])["Mean"]
                         for name, mask in groups.items()},
              "group_sizes": {name: int(mask.sum()) for name, mask in groups.items()}}
    edges = resolve_edges("within_part", 16, "mpii")
    rules = [VotingRule("additive"), VotingRule("noisy_or")]
    swapped = evaluate_mpii_voting_rules(model, experiment.valid_records, gt, rules, edges,
                                         epsilon_c=experiment.codec.heatmap_radius)
    result["rules"] = {name: table["Mean"] for name, table in swapped.items()}
    images = next(iter(build_dataset(experiment.valid_records[:256], "mpii", batch_size=256,
                                     input_size=experiment.args.input_size)))[0]
    result["peaks"] = peak_statistics(model(images, training=False)["final"].numpy())
    result["trained"] = loss_gradients(experiment, model, batches)
    keras.utils.set_random_seed(experiment.args.seed)
    result["initial"] = loss_gradients(experiment, experiment.build_model(), batches)
    result["curves"] = logged_losses(folder)
    target = next(iter(experiment.train_dataset(model.output_names, epoch=0)))[1]["final"]
    channels = target.shape[-1] // 2
    final, weight = target[..., :channels].numpy(), target[..., channels:].numpy()
    result["positive_pixels"] = 100.0 * float((final * weight > 0.5).sum() / max(weight.sum(), 1))
    return result


def measure_stn(experiment, model):
    """PCKh of the STN's warped maps and of its own heatmaps before the warp."""

    scores = {}
    for output in ("final", "heatmaps"):
        table, _ = evaluate_mpii(model, experiment.valid_records, experiment.ground_truth,
                                 output=output, verbose=False)
        scores[output] = table["Mean"]
    return scores


def format_report(results, seeds):

    def mean_std(values):
        values = np.asarray(values, np.float64)
        return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}" if len(values) > 1 else f"{values[0]:.2f}"

    def column(rule, getter):
        return mean_std([getter(results[seed][rule]) for seed in seeds])

    lines = [f"Noisy-OR vs additive end-to-end MDN (within-part, bilinear), seeds {seeds}; "
             "mean ± std over seeds.", "",
             "| measurement | MDN noisy-OR | MDN additive |", "|---|---:|---:|"]

    def add(label, getter):
        lines.append(f"| {label} | {column('noisy_or', getter)} | {column('additive', getter)} |")

    add("sampling error of PCKh@0.5 Mean (bootstrap over people)", lambda r: r["sampling_error"])
    add("PCKh@0.5 Mean, scored with additive voting", lambda r: r["rules"]["additive/bilinear"])
    add("PCKh@0.5 Mean, scored with noisy-OR voting", lambda r: r["rules"]["noisy_or/bilinear"])
    for name in results[seeds[0]]["noisy_or"]["bins"]:
        add(f"joints {name}, %", lambda r, n=name: r["bins"][n])
    for name in GROUPS:
        size = results[seeds[0]]["noisy_or"]["group_sizes"][name]
        add(f"PCKh@0.5 Mean, {name} images ({size})", lambda r, n=name: r["groups"][n])
    add("maps with a saturated maximum (>= 1 - 1e-6), %", lambda r: r["peaks"]["saturated"])
    add("pixels within 1e-3 of the maximum", lambda r: r["peaks"]["top_pixels"])
    add("maps whose top is split (> 2 px apart), %", lambda r: r["peaks"]["split_top"])
    for stage in ("initial", "trained"):
        for term in ("final", "heatmaps", "offsets_x"):
            add(f"{stage}: {term} loss", lambda r, s=stage, t=term: r[s][t]["value"])
            add(f"{stage}: {term} gradient norm", lambda r, s=stage, t=term: r[s][t]["gradient_norm"])
    add("positive pixels of the final-map target, %", lambda r: r["positive_pixels"])
    if all("stn" in results[seed] for seed in seeds):
        stn = {output: mean_std([results[seed]["stn"][output] for seed in seeds])
               for output in ("final", "heatmaps")}
        lines += ["", f"STN (within-part, trained by the final-map loss): PCKh@0.5 Mean of its "
                      f"warped maps {stn['final']}, of its own heatmaps before the warp "
                      f"{stn['heatmaps']}."]
    lines += ["", "Per-epoch training losses (seed %d):" % seeds[0], ""]
    for rule in ("noisy_or", "additive"):
        for tag, values in sorted(results[seeds[0]][rule]["curves"].items()):
            lines.append(f"- {rule} {tag}: " + ", ".join(f"{v:.4f}" for v in values))
    return "\n".join(lines)


def job_config(args, key, seed):
    """The `TrainConfig` of one ablation job, from its result file (`--results-dir`)."""
    path = os.path.join(args.results_dir, key, f"seed_{seed}.json")
    if not os.path.exists(path):
        raise SystemExit(f"no ablation result for {key} seed {seed} in {args.results_dir}")
    with open(path, encoding="utf-8") as f:
        identity = json.load(f)["identity"]
    folder = os.path.join(args.ablation_dir, "runs", key, f"seed_{seed}")
    return TrainConfig.from_options(**identity, output_dir=folder)


def main(argv=None):
    args = build_parser().parse_args(argv)
    results = {}
    for seed in args.seeds:
        results[seed] = {}
        for rule, key in MODELS.items():
            folder = os.path.join(args.ablation_dir, "runs", key, f"seed_{seed}")
            experiment = Experiment(job_config(args, key, seed))
            groups = image_groups(sample_data.sample_data(), len(experiment.valid_records))
            model = keras.models.load_model(os.path.join(folder, "model.keras"))
            results[seed][rule] = measure(experiment, model, folder, groups, args.batches)
            print(f"seed {seed} {rule}: measured", flush=True)
        folder = os.path.join(args.ablation_dir, "runs", STN, f"seed_{seed}")
        if os.path.exists(os.path.join(folder, "model.keras")):
            experiment = Experiment(job_config(args, STN, seed))
            model = keras.models.load_model(os.path.join(folder, "model.keras"))
            results[seed]["stn"] = measure_stn(experiment, model)
    report = format_report(results, args.seeds)
    print("\n" + report)
    with open(os.path.join(args.ablation_dir, "noisy_or_diagnosis.md"), "w", encoding="utf-8") as f:
        f.write(report + "\n")
    with open(os.path.join(args.ablation_dir, "noisy_or_diagnosis.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    return results

