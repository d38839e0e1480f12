"""The body of `training/train_mpii.py` and `training/train_coco.py`.

`main(dataset, argv)` parses the command line (`config.py`), loads the
records (real data or the built-in sample), builds the model and the
tf.data pipeline, trains with `model.fit` (or, for `--strategy
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

from mdn_tf.training import config as config_lib

COCO_FILES = {
    # (train annotations, train images, val annotations, val images)
    "real": ("annotations/person_keypoints_train2017.json", "train2017",
             "annotations/person_keypoints_val2017.json", "val2017"),
}


class Experiment:
    """Records, codec, evaluation functions and model factory of one run."""

    def __init__(self, args):
        from mdn_tf.data.targets import MDNCodec
        from mdn_tf.final_supervision import FinalSupervision

        self.args = args
        self.dataset = args.dataset
        height, width = args.input_size
        # The one pairing of the rule with its final target (the codec) and loss.
        self.final_supervision = FinalSupervision(
            args.combine, args.kernel, args.kernel_size, args.kernel_sigma,
            # The STN gathers (backward warp) instead of voting.
            form=args.final_target, warp=args.variant == "stn",
        )
        self.codec = MDNCodec(
            args.dataset, map_size=(height // 4, width // 4), mode=args.edges,
            final_supervision=self.final_supervision,
            **({"final_sigma": args.final_sigma} if args.final_sigma else {}),
        )
        if args.dataset == "mpii":
            self._load_mpii()
        else:
            self._load_coco()
        if args.max_train_records:
            self.train_records = self.train_records[: args.max_train_records]
        self.metric_name = "val_pckh" if args.dataset == "mpii" else "val_ap"
        from mdn_tf.data.bad_images import BadImageLog

        # One log for every epoch's dataset: each bad file is announced once per run.
        self.on_bad_image = getattr(args, "on_bad_image", "error")
        self.bad_images = BadImageLog(
            announce=self.on_bad_image == "skip",
            total_files=len({r.image for r in self.train_records}),
        )

    def _load_mpii(self):
        from mdn_tf.data import mpii, sample_data

        args = self.args
        if args.sample:
            paths = sample_data.sample_data()
            train, valid, gt = paths.mpii_train, paths.mpii_valid, paths.mpii_gt_valid
        else:
            annot = os.path.join(args.data_dir, "annot")
            train, valid = os.path.join(annot, "train.json"), os.path.join(annot, "valid.json")
            gt = os.path.join(annot, "gt_valid.mat")
        images = None if args.sample else os.path.join(args.data_dir, "images")
        self.train_records = mpii.load_annotations(train, image_dir=images)
        self.valid_records = mpii.load_annotations(valid, image_dir=images, gt_file=gt)
        self.ground_truth = mpii.load_ground_truth(gt)
        if getattr(args, "max_valid_records", None):
            n = args.max_valid_records
            self.valid_records = self.valid_records[:n]
            self.ground_truth = {k: v[:n] for k, v in self.ground_truth.items()}

    def _load_coco(self):
        from mdn_tf.data import coco, sample_data

        args = self.args
        if args.sample:
            paths = sample_data.sample_data()
            files = (paths.coco_train, paths.coco_train_images, paths.coco_val,
                     paths.coco_val_images)
        else:
            files = tuple(os.path.join(args.data_dir, f) for f in COCO_FILES["real"])
        train_ann, train_images, self.val_annotations, val_images = files
        size = tuple(args.input_size)
        self.train_records = coco.load_annotations(train_ann, image_dir=train_images,
                                                   input_size=size)
        self.valid_records = coco.load_annotations(
            self.val_annotations, detections=getattr(args, "detections", None),
            image_dir=val_images, input_size=size,
        )

    # -- evaluation ---------------------------------------------------------------
    def evaluate(self, model, flip_test, verbose=False):
        """Returns the metric dict (PCKh table or COCO stats) of `model`."""
        from mdn_tf.evaluation import evaluate_coco, evaluate_mpii

        batch = min(32, self.args.batch_size * 2)
        if self.dataset == "mpii":
            result, _ = evaluate_mpii(model, self.valid_records, self.ground_truth,
                                      flip_test=flip_test, verbose=verbose, batch_size=batch)
            return result
        result, _ = evaluate_coco(model, self.valid_records, self.val_annotations,
                                  verbose=False, flip_test=flip_test, batch_size=batch)
        return result

    def metric(self, model):
        """The best-weights metric: PCKh Mean or OKS AP (percent), no flip test."""
        result = self.evaluate(model, flip_test=False)
        return result["Mean"] if self.dataset == "mpii" else 100.0 * result["AP"]

    def format_table(self, rows):
        from mdn_tf.evaluation import format_coco_table, format_pckh_table

        lines = []
        for title, result in rows:
            if self.dataset == "mpii":
                table = format_pckh_table(result, title="")
            else:
                table = format_coco_table(result, title="")
            header, values = table.splitlines()[:2]
            lines.append(f"{title:<10}" + values[10:])
        return "\n".join([header] + lines)

    # -- model and data -------------------------------------------------------------
    def build_model(self):
        from mdn_tf.models import build_pose_model

        args = self.args
        model = build_pose_model(
            args.backbone, args.variant, num_joints=self.codec.num_joints,
            edges=args.edges, combine=args.combine, kernel=args.kernel,
            kernel_size=args.kernel_size, kernel_sigma=args.kernel_sigma,
            input_shape=(*args.input_size, 3),
            weights=args.weights, skeleton=args.dataset,
            epsilon_c=self.codec.heatmap_radius, num_stacks=args.num_stacks,
            hourglass_filters=args.hourglass_filters, small_filters=args.small_filters,
            # XLA cannot compile the custom op; the pure-TF voting is XLA-ready.
            implementation="tf" if args.jit_compile else "auto",
        )
        if args.init_weights:
            from mdn_tf.training.init_weights import load_initial_weights

            load_initial_weights(args.init_weights, model)
        return model

    def losses(self, output_names):
        from mdn_tf.losses import build_losses

        args = self.args
        return build_losses(
            output_names, args.variant, args.combine, heatmap_weight=args.heatmap_weight,
            offset_weight=args.offset_weight, final_weight=args.final_weight,
            final_floor=args.final_floor, final_supervision=self.final_supervision,
        )

    def steps_per_epoch(self):
        available = len(self.train_records) // self.args.batch_size
        if available < 1:
            raise ValueError(
                f"--batch-size {self.args.batch_size} is larger than the "
                f"{len(self.train_records)} training records"
            )
        return min(available, self.args.steps_per_epoch or available)

    def train_dataset(self, output_names, input_context=None, epoch=0):
        """The `steps_per_epoch()` batches of one epoch, `(images, packed targets)`.

        Shuffle order and augmentation depend only on `--seed` and `epoch`,
        so any epoch can be rebuilt exactly after an interruption.
        """
        from mdn_tf.data import build_dataset
        from mdn_tf.losses import pack_targets

        args = self.args
        dataset = build_dataset(
            self.train_records, args.dataset, is_training=True, batch_size=args.batch_size,
            input_size=args.input_size, codec=self.codec, seed=epoch_seed(args.seed, epoch),
            cache=args.sample, input_context=input_context,
            on_bad_image=self.pipeline_on_bad_image(), bad_image_log=self.bad_images,
            # Skipped examples are made up from the same epoch's shuffle, so
            # epoch e stays a function of (--seed, e) and resume stays exact.
            repeat=self.pipeline_on_bad_image() == "skip",
        )
        dataset = dataset.map(
            lambda images, targets: (images, pack_targets(targets, output_names)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return dataset.take(self.steps_per_epoch())

    def pipeline_on_bad_image(self):
        """The training pipeline's `on_bad_image`.

        Under `model.fit` the pipeline always skips and the `BadImages`
        callback stops the run in error mode: an error raised inside the
        data stream would reach the user wrapped in TensorFlow's log of the
        generator's traceback. The custom loop has no callbacks, so there
        the pipeline itself raises.
        """
        if self.args.strategy == "multi_worker":
            return self.on_bad_image
        return "skip"

    def training_stream(self, output_names, start_epoch):
        """All epochs from `start_epoch` on, as one dataset (for `model.fit`).

        Keras keeps one iterator across epochs when `steps_per_epoch` is
        given, so epoch e receives exactly `train_dataset(epoch=e)`,
        whichever epoch training (re)starts from.
        """
        signature = self.train_dataset(output_names, epoch=start_epoch).element_spec

        def epochs():
            epoch = start_epoch
            while True:
                yield from self.train_dataset(output_names, epoch=epoch)
                epoch += 1

        stream = tf.data.Dataset.from_generator(epochs, output_signature=signature)
        return stream.prefetch(2)

    def preview_images(self, count):
        from mdn_tf.data import build_dataset

        if count < 1:
            return None
        dataset = build_dataset(
            self.valid_records[:count], self.args.dataset, batch_size=count,
            input_size=self.args.input_size, codec=self.codec,
        )
        return next(iter(dataset))[0].numpy()

    def optimizer(self):
        args = self.args
        schedule = keras.optimizers.schedules.ExponentialDecay(
            args.learning_rate, decay_steps=self.steps_per_epoch(), decay_rate=args.lr_decay,
            staircase=True,
        )
        clipnorm = getattr(args, "clipnorm", None)
        if args.optimizer == "rmsprop":
            return keras.optimizers.RMSprop(schedule, global_clipnorm=clipnorm)
        return keras.optimizers.Adam(schedule, global_clipnorm=clipnorm)


def completed_epochs(backup_dir):
    """Epochs finished according to a `BackupAndRestore` folder (0 if none)."""
    # BackupAndRestore's own metadata file; read here to start the data stream there.
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f)["epoch"])


def epoch_seed(seed, epoch):
    """The data seed of one epoch: distinct per epoch, fixed by `--seed`."""
    return int(seed) * 1_000_003 + int(epoch)


def tensorboard_available():
    """True when the `tensorboard` package (needed by tf.summary) is installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        if not getattr(tensorboard_available, "warned", False):
            print("warning: the tensorboard package is not installed; no TensorBoard logs "
                  "(pip install tensorboard)")
            tensorboard_available.warned = True
        return False
    return True


def configure(args):
    """Seeds, determinism and precision; returns the distribution strategy."""
    keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    if args.mixed_precision:
        gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    if args.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if args.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def print_summary(args, experiment, initial, final, seconds, best):
    rows = [("untrained", initial), ("trained", final)] if initial else [("trained", final)]
    title = "PCKh@0.5" if args.dataset == "mpii" else "OKS AP (%)"
    print(f"\n{title} on the validation split ({len(experiment.valid_records)} people, "
          f"flip test), {args.backbone}/{args.variant}/{args.combine}, "
          f"{seconds / 60:.1f} min of training:")
    print(experiment.format_table(rows))
    if best:
        print(f"best {experiment.metric_name} (no flip test) {best[experiment.metric_name]:.2f} "
              f"at epoch {best['epoch']}: {os.path.join(args.output_dir, 'best.weights.h5')}")


def fit(args, experiment, strategy):
    """Trains with `model.fit`; returns the trained model."""
    with strategy.scope():
        model = experiment.build_model()
        losses, loss_weights = experiment.losses(model.output_names)
        model.compile(
            optimizer=experiment.optimizer(), loss=losses, loss_weights=loss_weights,
            jit_compile=args.jit_compile,
        )
    backup_dir = os.path.join(args.output_dir, "backup")
    start_epoch = min(completed_epochs(backup_dir), args.epochs)
    train = experiment.training_stream(model.output_names, start_epoch)
    from mdn_tf.training.callbacks import (
        BadImages,
        BestWeights,
        EpochCheckpoint,
        TensorBoardImages,
        ValidationMetric,
    )

    callbacks = [
        # First, so that in error mode nothing is saved after a bad image.
        BadImages(experiment.bad_images, experiment.on_bad_image),
        # double_checkpoint: a kill during a backup write falls back to the previous one.
        keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False,
                                         double_checkpoint=True),
        EpochCheckpoint(os.path.join(args.output_dir, "checkpoints"), keep=args.keep_checkpoints),
    ]
    if args.eval_every:  # 0: no validation during training, only the final table
        callbacks[1:1] = [
            ValidationMetric(experiment.metric_name, experiment.metric, every=args.eval_every),
            BestWeights(args.output_dir, experiment.metric_name),
        ]
    if tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(args.output_dir, "logs")))
    preview = experiment.preview_images(args.tensorboard_images)
    if preview is not None and tensorboard_available():
        from mdn_tf.inference.decode import decode_keypoints

        callbacks.append(TensorBoardImages(
            os.path.join(args.output_dir, "logs"), preview,
            experiment.codec.skeleton.limbs, experiment.codec.edges,
            lambda maps: decode_keypoints(maps)[0].numpy(),
        ))
    model.fit(train, epochs=args.epochs, steps_per_epoch=experiment.steps_per_epoch(),
              callbacks=callbacks, verbose=args.verbose, shuffle=False)
    return model


def main(dataset, argv=None):
    """Parses the command line `argv` (`config.py`) and runs one training job.

    Returns:
        The final metric dict (None on a non-chief multi_worker worker).
    """
    return train(config_lib.parse_args(dataset, argv))


def train(args):
    """Runs one training job of resolved options (`config.parse_args`, `resolve_args`).

    Raises:
        BadImageError: (a ValueError) one line naming an image that cannot
            be decoded, in `--on-bad-image error` mode (and for validation
            images, which are never skipped).
    """
    from mdn_tf.data.bad_images import TRAINING_HINT, call_with_one_line_errors

    return call_with_one_line_errors(_train, args, hint=TRAINING_HINT)


def _train(args):
    dataset = args.dataset
    backup_dir = os.path.join(args.output_dir, "backup")
    if args.restart and os.path.exists(args.output_dir):
        shutil.rmtree(args.output_dir)
    os.makedirs(args.output_dir, exist_ok=True)
    strategy = configure(args)
    experiment = Experiment(args)
    chief = True
    if args.strategy == "multi_worker":
        from mdn_tf.training.custom_loop import is_chief

        chief = is_chief(strategy)
    if chief:
        print(f"{dataset}: {len(experiment.train_records)} training / "
              f"{len(experiment.valid_records)} validation people "
              f"({'built-in sample' if args.sample else args.data_dir}); "
              f"{experiment.steps_per_epoch()} steps per epoch; output {args.output_dir}")
        with open(os.path.join(args.output_dir, "options.json"), "w", encoding="utf-8") as f:
            json.dump(vars(args), f, indent=1, default=str)

    initial_path = os.path.join(args.output_dir, "untrained_eval.json")
    if (chief and args.untrained_eval and completed_epochs(backup_dir) == 0
            and not os.path.exists(initial_path)):
        # The untrained network's score, so the final table shows what was learned.
        keras.utils.set_random_seed(args.seed)
        initial = experiment.evaluate(experiment.build_model(), flip_test=True)
        with open(initial_path, "w", encoding="utf-8") as f:
            json.dump(initial, f)
        keras.utils.set_random_seed(args.seed)
    start = time.time()
    if args.strategy == "multi_worker":
        from mdn_tf.training.custom_loop import train_custom_loop

        model = train_custom_loop(args, experiment, strategy)
    else:
        model = fit(args, experiment, strategy)
    seconds = time.time() - start
    if not chief:
        return None
    final = experiment.evaluate(model, flip_test=True, verbose=args.verbose > 0)
    model.save(os.path.join(args.output_dir, "model.keras"))
    initial = None
    if os.path.exists(initial_path):
        with open(initial_path, encoding="utf-8") as f:
            initial = json.load(f)
    best = None
    if os.path.exists(os.path.join(args.output_dir, "best.json")):
        with open(os.path.join(args.output_dir, "best.json"), encoding="utf-8") as f:
            best = json.load(f)
    print_summary(args, experiment, initial, final, seconds, best)
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"untrained": initial, "trained": final, "best": best,
                   "train_seconds": seconds, "options": vars(args)}, f, indent=1, default=str)
    return final
