"""Records, codec, model, losses, data and evaluation of one training run.

An `Experiment` is built from a `TrainConfig` once per run: it loads both
splits (`mdn_tf.data.datasets.load_split`), pairs the voting rule with its
final target and loss (`FinalSupervision`), and makes everything the
training loops (`run.py`'s `model.fit`, `custom_loop.py`) and the final
evaluation ask for.
"""

import keras
import tensorflow as tf

from mdn_tf.data.bad_images import BadImageLog
from mdn_tf.data.datasets import load_split
from mdn_tf.data.pipeline import build_dataset
from mdn_tf.data.targets import MDNCodec
from mdn_tf.evaluation import (
    evaluate_coco,
    evaluate_mpii,
    format_coco_table,
    format_pckh_table,
)
from mdn_tf.final_supervision import FinalSupervision
from mdn_tf.losses import build_losses, pack_targets
from mdn_tf.models import build_pose_model
from mdn_tf.training.init_weights import load_initial_weights
from mdn_tf.training.run_state import epoch_seed


class Experiment:
    """Records, codec, evaluation functions and model factory of one run."""

    def __init__(self, config):
        self.config = config
        model, data = config.model, config.data
        self.dataset = data.dataset
        height, width = model.input_size
        # The one pairing of the rule with its final target (the codec) and loss.
        self.final_supervision = FinalSupervision(
            model.combine, model.kernel, model.kernel_size, model.kernel_sigma,
            # The STN gathers (backward warp) instead of voting.
            form=config.loss.final_target, warp=model.variant == "stn",
        )
        self.codec = MDNCodec(
            data.dataset, map_size=(height // 4, width // 4), mode=model.edges,
            final_supervision=self.final_supervision,
            **({"final_sigma": config.loss.final_sigma} if config.loss.final_sigma else {}),
        )
        train = load_split(data.dataset, "train", data.data_dir, model.input_size,
                           max_records=data.max_train_records)
        valid = load_split(data.dataset, "valid", data.data_dir, model.input_size,
                           detections=data.detections, max_records=data.max_valid_records)
        self.train_records, self.valid_records = train.records, valid.records
        self.ground_truth = valid.ground_truth  # MPII
        self.val_annotations = valid.files.annotations  # COCO AP's ground truth
        self.metric_name = "val_pckh" if data.dataset == "mpii" else "val_ap"
        # One log for every epoch's dataset: each bad file is announced once per run.
        self.on_bad_image = data.on_bad_image
        self.bad_images = BadImageLog(
            announce=self.on_bad_image == "skip",
            total_files=len({r.image for r in self.train_records}),
        )

    # -- evaluation ---------------------------------------------------------------
    def evaluate(self, model, flip_test, verbose=False):
        """Returns the metric dict (PCKh table or COCO stats) of `model`."""
        batch = min(32, self.config.optimization.batch_size * 2)
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
        model_config, run = self.config.model, self.config.run
        model = build_pose_model(
            model_config.backbone, model_config.variant, num_joints=self.codec.num_joints,
            edges=model_config.edges, combine=model_config.combine, kernel=model_config.kernel,
            kernel_size=model_config.kernel_size, kernel_sigma=model_config.kernel_sigma,
            input_shape=(*model_config.input_size, 3),
            weights=None if model_config.weights == "none" else model_config.weights,
            skeleton=self.dataset,
            epsilon_c=self.codec.heatmap_radius, num_stacks=model_config.num_stacks,
            hourglass_filters=model_config.hourglass_filters,
            small_filters=model_config.small_filters,
            # XLA cannot compile the custom op; the pure-TF voting is XLA-ready.
            implementation="tf" if run.jit_compile else "auto",
        )
        if model_config.init_weights:
            load_initial_weights(model_config.init_weights, model)
        return model

    def losses(self, output_names):
        loss = self.config.loss
        return build_losses(
            output_names, self.config.model.variant, self.config.model.combine,
            heatmap_weight=loss.heatmap_weight, offset_weight=loss.offset_weight,
            final_weight=loss.final_weight, final_floor=loss.final_floor,
            final_supervision=self.final_supervision,
        )

    def steps_per_epoch(self):
        batch_size = self.config.optimization.batch_size
        available = len(self.train_records) // batch_size
        if available < 1:
            raise ValueError(
                f"--batch-size {batch_size} is larger than the "
                f"{len(self.train_records)} training records"
            )
        return min(available, self.config.optimization.steps_per_epoch or available)

    def train_dataset(self, output_names, input_context=None, epoch=0):
        """The `steps_per_epoch()` batches of one epoch, `(images, packed targets)`.

        Shuffle order and augmentation depend only on the seed and `epoch`,
        so any epoch can be rebuilt exactly after an interruption.
        """
        config = self.config
        dataset = build_dataset(
            self.train_records, self.dataset, is_training=True,
            batch_size=config.optimization.batch_size, input_size=config.model.input_size,
            codec=self.codec, seed=epoch_seed(config.run.seed, epoch),
            cache=config.sample, input_context=input_context,
            on_bad_image=self.pipeline_on_bad_image(), bad_image_log=self.bad_images,
            # Skipped examples are made up from the same epoch's shuffle, so
            # epoch e stays a function of (seed, e) and resume stays exact.
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
        if self.config.run.strategy == "multi_worker":
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
        if count < 1:
            return None
        dataset = build_dataset(
            self.valid_records[:count], self.dataset, batch_size=count,
            input_size=self.config.model.input_size, codec=self.codec,
        )
        return next(iter(dataset))[0].numpy()

    def optimizer(self):
        optimization = self.config.optimization
        schedule = keras.optimizers.schedules.ExponentialDecay(
            optimization.learning_rate, decay_steps=self.steps_per_epoch(),
            decay_rate=optimization.lr_decay, staircase=True,
        )
        clipnorm = optimization.clipnorm or None  # 0: no clipping
        if optimization.optimizer == "rmsprop":
            return keras.optimizers.RMSprop(schedule, global_clipnorm=clipnorm)
        return keras.optimizers.Adam(schedule, global_clipnorm=clipnorm)
