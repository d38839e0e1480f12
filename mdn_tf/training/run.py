"""The body of `training/train_mpii.py` and `training/train_coco.py`.

`main(dataset, argv)` parses the command line (`command_line.py`) into a
`TrainConfig` (`config.py`); `train(config)` builds the run's `Experiment`
(`experiment.py`: records, codec, model, losses, tf.data pipeline), trains with `model.fit` (or, for `--strategy
multi_worker`, the custom loop of `custom_loop.py`), and ends by printing
the validation table (PCKh for MPII, OKS AP for COCO) of the untrained and
the trained network.

Output folder (`--output-dir`):

- `backup/`: `keras.callbacks.BackupAndRestore` state; a killed run started
  again with the same command continues from its last finished epoch.
- `checkpoints/epoch_NNN.weights.h5`: every epoch (newest `--keep-checkpoints`).
- `best.weights.h5`, `best.json`: highest validation PCKh / AP so far.
- `logs/`: TensorBoard (losses, learning rate, validation metric, images).
- `model.keras`: the final model; `results.json`: tables, timings, options.

Exact resume: Keras restores weights, optimizer state (and with it the
learning-rate schedule) and the epoch. The training data of epoch e is built
from a seed that depends only on `--seed` and e (`epoch_seed`), and
`model.fit` reads one stream of epochs starting at the restored epoch, so a
resumed run sees exactly the batches an uninterrupted run would have seen.
"""

import json
import os
import shutil
import time

import keras
import tensorflow as tf

from mdn_tf.data.bad_images import TRAINING_HINT, call_with_one_line_errors
from mdn_tf.inference.decode import decode_keypoints
from mdn_tf.training import command_line
from mdn_tf.training.callbacks import (
    BadImages,
    BestWeights,
    EpochCheckpoint,
    TensorBoardImages,
    ValidationMetric,
)
from mdn_tf.training.custom_loop import is_chief, train_custom_loop
from mdn_tf.training.experiment import Experiment
from mdn_tf.training.run_state import completed_epochs, tensorboard_available


def configure(config):
    """Seeds, determinism and precision; returns the distribution strategy."""
    run = config.run
    keras.utils.set_random_seed(run.seed)
    if run.deterministic:
        tf.config.experimental.enable_op_determinism()
    if run.mixed_precision:
        gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    if run.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if run.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def print_summary(config, experiment, initial, final, seconds, best):
    rows = [("untrained", initial), ("trained", final)] if initial else [("trained", final)]
    title = "PCKh@0.5" if experiment.dataset == "mpii" else "OKS AP (%)"
    model = config.model
    print(f"\n{title} on the validation split ({len(experiment.valid_records)} people, "
          f"flip test), {model.backbone}/{model.variant}/{model.combine}, "
          f"{seconds / 60:.1f} min of training:")
    print(experiment.format_table(rows))
    if best:
        print(f"best {experiment.metric_name} (no flip test) {best[experiment.metric_name]:.2f} "
              f"at epoch {best['epoch']}: "
              f"{os.path.join(config.run.output_dir, 'best.weights.h5')}")


def fit(config, experiment, strategy):
    """Trains with `model.fit`; returns the trained model."""
    run = config.run
    with strategy.scope():
        model = experiment.build_model()
        losses, loss_weights = experiment.losses(model.output_names)
        model.compile(
            optimizer=experiment.optimizer(), loss=losses, loss_weights=loss_weights,
            jit_compile=run.jit_compile,
        )
    backup_dir = os.path.join(run.output_dir, "backup")
    start_epoch = min(completed_epochs(backup_dir), config.optimization.epochs)
    train = experiment.training_stream(model.output_names, start_epoch)
    callbacks = [
        # First, so that in error mode nothing is saved after a bad image.
        BadImages(experiment.bad_images, experiment.on_bad_image),
        # double_checkpoint: a kill during a backup write falls back to the previous one.
        keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False,
                                         double_checkpoint=True),
        EpochCheckpoint(os.path.join(run.output_dir, "checkpoints"), keep=run.keep_checkpoints),
    ]
    if run.eval_every:  # 0: no validation during training, only the final table
        callbacks[1:1] = [
            ValidationMetric(experiment.metric_name, experiment.metric, every=run.eval_every),
            BestWeights(run.output_dir, experiment.metric_name),
        ]
    if tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(run.output_dir, "logs")))
    preview = experiment.preview_images(run.tensorboard_images)
    if preview is not None and tensorboard_available():
        callbacks.append(TensorBoardImages(
            os.path.join(run.output_dir, "logs"), preview,
            experiment.codec.skeleton.limbs, experiment.codec.edges,
            lambda maps: decode_keypoints(maps)[0].numpy(),
        ))
    model.fit(train, epochs=config.optimization.epochs,
              steps_per_epoch=experiment.steps_per_epoch(),
              callbacks=callbacks, verbose=run.verbose, shuffle=False)
    return model


def main(dataset, argv=None):
    """Parses the command line `argv` (`command_line.py`) and runs one training job.

    Returns:
        The final metric dict (None on a non-chief multi_worker worker).
    """
    return train(command_line.parse_args(dataset, argv))


def train(config, experiment=None):
    """Runs one training job of a `TrainConfig`.

    Args:
        config: the run's `TrainConfig`.
        experiment: its `Experiment`, when the caller has built it already
            (the ablation scores the trained network on its records).

    Returns:
        The final metric dict (None on a non-chief multi_worker worker).

    Raises:
        BadImageError: (a ValueError) one line naming an image that cannot
            be decoded, in `--on-bad-image error` mode (and for validation
            images, which are never skipped).
    """
    return call_with_one_line_errors(_train, config, experiment, hint=TRAINING_HINT)


def _train(config, experiment):
    run = config.run
    backup_dir = os.path.join(run.output_dir, "backup")
    if run.restart and os.path.exists(run.output_dir):
        shutil.rmtree(run.output_dir)
    os.makedirs(run.output_dir, exist_ok=True)
    strategy = configure(config)
    experiment = experiment or Experiment(config)
    chief = run.strategy != "multi_worker" or is_chief(strategy)
    if chief:
        print(f"{experiment.dataset}: {len(experiment.train_records)} training / "
              f"{len(experiment.valid_records)} validation people "
              f"({'built-in sample' if config.sample else config.data.data_dir}); "
              f"{experiment.steps_per_epoch()} steps per epoch; output {run.output_dir}")
        with open(os.path.join(run.output_dir, "options.json"), "w", encoding="utf-8") as f:
            json.dump(config.to_options(), f, indent=1, default=str)

    initial_path = os.path.join(run.output_dir, "untrained_eval.json")
    if (chief and run.untrained_eval and completed_epochs(backup_dir) == 0
            and not os.path.exists(initial_path)):
        # The untrained network's score, so the final table shows what was learned.
        keras.utils.set_random_seed(run.seed)
        initial = experiment.evaluate(experiment.build_model(), flip_test=True)
        with open(initial_path, "w", encoding="utf-8") as f:
            json.dump(initial, f)
        keras.utils.set_random_seed(run.seed)
    start = time.time()
    if run.strategy == "multi_worker":
        model = train_custom_loop(config, experiment, strategy)
    else:
        model = fit(config, experiment, strategy)
    seconds = time.time() - start
    if not chief:
        return None
    final = experiment.evaluate(model, flip_test=True, verbose=run.verbose > 0)
    model.save(os.path.join(run.output_dir, "model.keras"))
    initial = None
    if os.path.exists(initial_path):
        with open(initial_path, encoding="utf-8") as f:
            initial = json.load(f)
    best = None
    if os.path.exists(os.path.join(run.output_dir, "best.json")):
        with open(os.path.join(run.output_dir, "best.json"), encoding="utf-8") as f:
            best = json.load(f)
    print_summary(config, experiment, initial, final, seconds, best)
    with open(os.path.join(run.output_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"untrained": initial, "trained": final, "best": best,
                   "train_seconds": seconds, "options": config.to_options()}, f, indent=1,
                  default=str)
    return final
