"""The `--strategy multi_worker` path: a custom training loop.

With Keras 3, `model.fit` under `tf.distribute.MultiWorkerMirroredStrategy`
fails with "Attempt to convert a value (PerReplica...)" (keras-team/keras
issue 20585). This loop keeps the same command line, model, losses,
optimizer and outputs, and replaces only `fit`:

- the dataset is built per worker with `distribute_datasets_from_function`
  (records sharded by worker, per-replica batch = global batch / replicas);
- each step runs `strategy.run`; per-example losses are averaged over the
  *global* batch (`tf.nn.compute_average_loss`), and the Keras optimizer
  all-reduces (sums) the gradients across workers before applying them, so
  every worker applies the same update;
- the chief (worker 0) writes checkpoints, the backup, best weights,
  TensorBoard scalars and the validation metric; every worker writes its
  final weights to `workers/worker_<i>.weights.h5` (equal on all workers:
  BatchNorm moving statistics, computed from each worker's own batches, are
  averaged across workers after every epoch);
- resume: all workers read `backup/` (shared folder), restore weights and
  optimizer state and continue after the last finished epoch.

Launch one process per worker with `TF_CONFIG` set, e.g. on one machine:

    TF_CONFIG='{"cluster": {"worker": ["localhost:12345", "localhost:12346"]},
                "task": {"type": "worker", "index": 0}}' \\
        python training/train_mpii.py --strategy multi_worker --output-dir runs/mw
    # and the same with "index": 1 in a second shell.
"""

import json
import os

import keras
import tensorflow as tf

from mdn_tf.training.callbacks import BestWeights, EpochCheckpoint
from mdn_tf.training.run_state import completed_epochs, tensorboard_available


def is_chief(strategy):
    """True for the worker that writes shared outputs (worker 0, or "chief")."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _worker_index(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(resolver.task_id) if resolver is not None and resolver.task_id is not None else 0


def train_custom_loop(config, experiment, strategy):
    """Trains under `strategy` without `model.fit`; returns the model."""
    run, epochs = config.run, config.optimization.epochs
    chief = is_chief(strategy)
    with strategy.scope():
        model = experiment.build_model()
        optimizer = experiment.optimizer()
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer)  # attaches it, so save_weights stores its state
        optimizer.build(model.trainable_variables)
    losses, loss_weights = experiment.losses(model.output_names)

    backup_dir = os.path.join(run.output_dir, "backup")
    backup_weights = os.path.join(backup_dir, "latest.weights.h5")
    start_epoch = min(completed_epochs(backup_dir), epochs)
    if start_epoch and os.path.exists(backup_weights):
        model.load_weights(backup_weights)

    global_batch = config.optimization.batch_size

    def replica_step(images, targets):
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            parts = {}
            for name, loss in losses.items():
                per_example = loss.call(targets[name], outputs[name])
                parts[name] = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            total = tf.add_n([loss_weights[name] * value for name, value in parts.items()])
            scaled = optimizer.scale_loss(total)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return {"loss": total, **{f"{name}_loss": value for name, value in parts.items()}}

    @tf.function
    def train_step(images, targets):
        per_replica = strategy.run(replica_step, args=(images, targets))
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for name, value in per_replica.items()
        }

    # BatchNorm moving statistics are updated from each worker's own batches;
    # averaging them every epoch keeps the workers' models identical.
    statistics = [v for v in model.non_trainable_variables if v.dtype.startswith("float")]

    @tf.function
    def averaged_statistics():
        def replica_mean():
            context = tf.distribute.get_replica_context()
            return context.all_reduce(
                tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in statistics]
            )

        per_replica = strategy.run(replica_mean)
        return [strategy.experimental_local_results(value)[0] for value in per_replica]

    steps = experiment.steps_per_epoch()
    checkpoints = EpochCheckpoint(os.path.join(run.output_dir, "checkpoints"),
                                  keep=run.keep_checkpoints)
    best = BestWeights(run.output_dir, experiment.metric_name)
    for callback in (checkpoints, best):
        callback.set_model(model)
    writer = None
    if chief and tensorboard_available():
        writer = tf.summary.create_file_writer(os.path.join(run.output_dir, "logs", "train"))

    for epoch in range(start_epoch, epochs):
        if chief and run.verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        progress = keras.utils.Progbar(steps, verbose=run.verbose if chief else 0)
        totals = {}
        dataset = strategy.distribute_datasets_from_function(
            lambda context, epoch=epoch: experiment.train_dataset(
                model.output_names, context, epoch=epoch)
        )
        for step, (images, targets) in enumerate(dataset, start=1):
            logs = {name: float(value) for name, value in train_step(images, targets).items()}
            for name, value in logs.items():
                totals[name] = totals.get(name, 0.0) + value
            progress.update(step, list(logs.items()))
        if statistics:
            for variable, value in zip(statistics, averaged_statistics()):
                variable.assign(value)
        logs = {name: value / max(steps, 1) for name, value in totals.items()}
        logs["learning_rate"] = float(optimizer.learning_rate)
        if chief:
            last = epoch + 1 == epochs
            if run.eval_every and ((epoch + 1) % run.eval_every == 0 or last):
                logs[experiment.metric_name] = float(experiment.metric(model))
            checkpoints.on_epoch_end(epoch, logs)
            best.on_epoch_end(epoch, logs)
            os.makedirs(backup_dir, exist_ok=True)
            model.save_weights(backup_weights)
            with open(os.path.join(backup_dir, "training_metadata.json"), "w",
                      encoding="utf-8") as f:
                json.dump({"epoch": epoch + 1, "batch": 0}, f)
            if writer is not None:
                with writer.as_default():
                    for name, value in logs.items():
                        tf.summary.scalar(f"epoch_{name}", value, step=epoch + 1)
                writer.flush()
            if run.verbose:
                print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    workers_dir = os.path.join(run.output_dir, "workers")
    os.makedirs(workers_dir, exist_ok=True)
    model.save_weights(os.path.join(workers_dir, f"worker_{_worker_index(strategy)}.weights.h5"))
    return model
