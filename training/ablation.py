#!/usr/bin/env python3
"""The paper's Table 1 in miniature: every variant, one budget, one table.

    python training/ablation.py              # built-in sample, ~30 min on 2 CPU cores
    python training/ablation.py --quick      # a few minutes, for smoke tests
    python training/ablation.py --epochs 60 --output-dir runs/ablation_long

Trains, with the same data, seed, network and number of steps:
`baseline` (heatmaps only), `posthoc` (heatmap and displacement heads trained
with their own losses; voting only at inference, evaluated with the
additive, noisy-OR and max rules from one training run), `stn` (end-to-end
backward warp, the paper's Spatial Transformer baseline) and `mdn`
(end-to-end voting, additive and noisy-OR). Each row reports PCKh@0.5 Mean
and PCKh@0.1 Mean on the validation split with the flip test, like
Neverova & Kokkinos (BMVC 2018), Table 1. The table is printed and written
to `<output-dir>/ablation.md` and `ablation.json`.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (variant, combine used in training, combines evaluated)
RUNS = (
    ("baseline", "noisy_or", (None,)),
    ("posthoc", "noisy_or", ("additive", "noisy_or", "max")),
    ("stn", "noisy_or", ("noisy_or",)),
    ("mdn", "additive", ("additive",)),
    ("mdn", "noisy_or", ("noisy_or",)),
)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per variant")
    parser.add_argument("--quick", action="store_true",
                        help="2 epochs on 48 training people (smoke test)")
    parser.add_argument("--output-dir", default=os.path.join("runs", "ablation"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="real MPII instead of the built-in sample")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="further train_mpii.py options for every run (after --extra)")
    return parser


def training_argv(args, variant, combine):
    folder = os.path.join(args.output_dir, f"{variant}_{combine}")
    epochs = 2 if args.quick else args.epochs
    # Validation only once, at the end: every variant gets the same budget.
    argv = ["--variant", variant, "--combine", combine, "--epochs", str(epochs),
            "--seed", str(args.seed), "--output-dir", folder, "--eval-every", str(epochs),
            "--tensorboard-images", "0", "--verbose", "2"]
    if args.quick:
        argv += ["--max-train-records", "48", "--max-valid-records", "24",
                 "--small-filters", "16"]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    return argv + list(args.extra), folder


def evaluate_with_combine(argv, folder, combine):
    """PCKh of a trained posthoc model with its voting rule swapped.

    Voting owns no weights, so the trained weights load into the same
    network built with another combine rule.
    """
    import keras

    import mdn_tf.models  # noqa: F401  (registers the layers of model.keras)
    from mdn_tf.training import config as config_lib
    from mdn_tf.training.run import Experiment

    options = config_lib.parse_args("mpii", argv + ["--combine", combine])
    experiment = Experiment(options)
    model = experiment.build_model()
    model.set_weights(keras.models.load_model(os.path.join(folder, "model.keras")).get_weights())
    return experiment.evaluate(model, flip_test=True)


def format_table(rows):
    lines = ["| variant | combine | PCKh@0.5 Mean | PCKh@0.1 Mean | training (min) |",
             "|---|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['variant']} | {row['combine'] or '-'} | {row['Mean']:.2f} | "
                     f"{row['Mean@0.1']:.2f} | {row['minutes']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)
    from mdn_tf.training.run import main as train

    os.makedirs(args.output_dir, exist_ok=True)
    rows, start = [], time.time()
    for index, (variant, combine, evaluated) in enumerate(RUNS, 1):
        print(f"\n=== [{index}/{len(RUNS)}] {variant} ({combine}) ===", flush=True)
        run_argv, folder = training_argv(args, variant, combine)
        began = time.time()
        result = train("mpii", run_argv + ["--restart"])
        minutes = (time.time() - began) / 60
        for rule in evaluated:
            if rule not in (None, combine):
                result = evaluate_with_combine(run_argv, folder, rule)
            rows.append({"variant": variant, "combine": rule, "Mean": result["Mean"],
                         "Mean@0.1": result["Mean@0.1"], "minutes": minutes,
                         "folder": folder})
        print(format_table(rows), flush=True)

    table = format_table(rows)
    total = (time.time() - start) / 60
    source = args.data_dir or "built-in sample"
    print(f"\nAblation on MPII ({source}), {2 if args.quick else args.epochs} epochs per "
          f"variant, flip test; {total:.1f} min in all\n{table}")
    with open(os.path.join(args.output_dir, "ablation.md"), "w", encoding="utf-8") as f:
        f.write(table + "\n")
    with open(os.path.join(args.output_dir, "ablation.json"), "w", encoding="utf-8") as f:
        json.dump({"rows": rows, "minutes": total, "options": vars(args)}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
