"""Keras callbacks of the training scripts: metric, checkpoints, images.

Order matters in `model.fit(callbacks=[...])`: `ValidationMetric` must come
before the callbacks that read its value from the epoch logs
(`BestWeights`, `keras.callbacks.TensorBoard`).
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from mdn_tf.data.bad_images import TRAINING_HINT, BadImageError


class ValidationMetric(keras.callbacks.Callback):
    """Adds a validation metric (PCKh, OKS AP) to the epoch logs.

    Args:
        name: the log key, e.g. "val_pckh".
        evaluate: `evaluate(model) -> float`, higher is better.
        every: evaluate every `every` epochs and after the last one.
            Defaults to 1.
    """

    def __init__(self, name, evaluate, every=1):
        super().__init__()
        self.name, self.evaluate, self.every = name, evaluate, every

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.params.get("epochs")
        if logs is not None and ((epoch + 1) % self.every == 0 or last):
            logs[self.name] = float(self.evaluate(self.model))


class BadImages(keras.callbacks.Callback):
    """Applies `--on-bad-image` to what the training pipeline met (a `BadImageLog`).

    "error": raises `BadImageError` (one line naming the file) at the end of
    the batch during which the pipeline met the first bad image. "skip":
    adds `skipped_images` (examples left out so far) to the epoch logs, so
    the progress bar and TensorBoard show it, and prints the count. tf.data
    reads ahead of training (prefetching), so "so far" can include examples
    of the first batches of the next epoch.

    Args:
        log: the pipeline's `mdn_tf.data.bad_images.BadImageLog`.
        on_bad_image: "error" or "skip".
    """

    def __init__(self, log, on_bad_image):
        super().__init__()
        self.log, self.on_bad_image = log, on_bad_image

    def on_train_batch_end(self, batch, logs=None):
        if self.on_bad_image == "error" and self.log.first is not None:
            # Ends the epoch's step loop; raising here instead leaves model.fit's
            # data-stream thread running and the process hangs at exit.
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        line = self.log.first
        if self.on_bad_image == "error" and line is not None:
            # First in the callback list: no checkpoint or backup of this epoch is written.
            raise BadImageError(line + TRAINING_HINT)
        if self.on_bad_image != "skip":
            return
        files, examples = self.log.counts()
        if logs is not None:
            logs["skipped_images"] = float(examples)
        if files:
            print(f"epoch {epoch + 1}: {examples} example{'s' * (examples != 1)} skipped so far, "
                  f"from {files} bad image file{'s' * (files != 1)} (the input pipeline reads "
                  "ahead, so this can count a few of the next epoch's)", flush=True)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves `epoch_{NNN}.weights.h5` after every epoch, keeping the newest `keep`.

    Args:
        directory: checkpoint folder (created).
        keep: number of epoch files kept. Defaults to 3.
    """

    def __init__(self, directory, keep=3):
        super().__init__()
        self.directory, self.keep = directory, keep

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        self.model.save_weights(os.path.join(self.directory, f"epoch_{epoch + 1:03d}.weights.h5"))
        saved = sorted(f for f in os.listdir(self.directory) if f.startswith("epoch_"))
        for stale in saved[: -self.keep]:
            os.remove(os.path.join(self.directory, stale))


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights with the highest `monitor` value, across restarts.

    The best value so far lives in `best.json` next to `best.weights.h5`,
    so a resumed run does not overwrite a better model from before the
    interruption.

    Args:
        directory: output folder.
        monitor: log key to maximise, e.g. "val_pckh".
    """

    def __init__(self, directory, monitor):
        super().__init__()
        self.directory, self.monitor = directory, monitor
        self.weights_path = os.path.join(directory, "best.weights.h5")
        self.info_path = os.path.join(directory, "best.json")
        self.best = None
        if os.path.exists(self.info_path):
            with open(self.info_path, encoding="utf-8") as f:
                self.best = json.load(f)[monitor]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or (self.best is not None and value <= self.best):
            return
        self.best = float(value)
        os.makedirs(self.directory, exist_ok=True)
        self.model.save_weights(self.weights_path)
        with open(self.info_path, "w", encoding="utf-8") as f:
            json.dump({self.monitor: self.best, "epoch": epoch + 1}, f)


def _draw_skeleton(image, keypoints, limbs, color=(1.0, 0.2, 0.2)):
    """Draws limbs (1-px lines) and joints on a float RGB `[h, w, 3]` copy."""
    image = image.copy()
    height, width = image.shape[:2]
    for a, b in limbs:
        for t in np.linspace(0.0, 1.0, 64):
            x, y = (1 - t) * keypoints[a] + t * keypoints[b]
            if 0 <= x < width and 0 <= y < height:
                image[int(y), int(x)] = color
    for x, y in keypoints:
        if 0 <= x < width and 0 <= y < height:
            image[max(int(y) - 1, 0):int(y) + 2, max(int(x) - 1, 0):int(x) + 2] = (1.0, 1.0, 0.0)
    return image


def _field_colors(offsets_x, offsets_y, weights):
    """HSV-like colour of a displacement field: hue = direction, value = weight."""
    angle = (np.arctan2(offsets_y, offsets_x) + np.pi) / (2 * np.pi)
    value = np.clip(weights, 0.0, 1.0)
    phases = angle[..., None] + np.array([0.0, 1 / 3, 2 / 3])
    rgb = 0.5 + 0.5 * np.cos(2 * np.pi * phases)
    return rgb * value[..., None]


class TensorBoardImages(keras.callbacks.Callback):
    """Writes prediction images of fixed validation crops after every epoch.

    Panels, left to right: the input with the predicted skeleton, the
    heatmaps before voting (max over joints of `sigmoid(heatmaps)`), the
    final maps after voting (max over joints), and the displacement field
    (each pixel coloured by the direction of the edge whose source heatmap
    is strongest there, brightness = that heatmap).

    Args:
        log_dir: TensorBoard folder; images go to `log_dir/images`.
        images: `[N, H, W, 3]` validation crops in [0, 1].
        limbs: skeleton segments to draw.
        edges: the model's voting edges (for the field panel).
        decode: `decode(maps [N, h, w, J]) -> keypoints [N, J, 2]` in map pixels.
    """

    def __init__(self, log_dir, images, limbs, edges, decode):
        super().__init__()
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))
        self.images = np.asarray(images, np.float32)
        self.limbs, self.edges, self.decode = limbs, edges, decode

    def panels(self):
        outputs = self.model(self.images, training=False)
        final = np.asarray(outputs["final"], np.float32)
        heatmaps = 1.0 / (1.0 + np.exp(-np.asarray(outputs["heatmaps"], np.float32)))
        height, width = self.images.shape[1:3]
        scale = width / final.shape[2]
        keypoints = (self.decode(final) + 0.5) * scale - 0.5
        rows = []
        for n in range(len(self.images)):
            before = np.repeat(heatmaps[n].max(-1, keepdims=True), 3, -1)
            after_maps = final[n] / max(float(final[n].max()), 1e-6)
            after = np.repeat(after_maps.max(-1, keepdims=True), 3, -1)
            tiles = [before, after]
            if "offsets_x" in outputs:
                sources = np.array([s for s, _ in self.edges])
                strength = heatmaps[n][..., sources]
                best = strength.argmax(-1)[..., None]
                ox = np.take_along_axis(np.asarray(outputs["offsets_x"][n]), best, -1)[..., 0]
                oy = np.take_along_axis(np.asarray(outputs["offsets_y"][n]), best, -1)[..., 0]
                tiles.append(_field_colors(ox, oy, strength.max(-1)))
            tiles = [np.kron(t, np.ones((int(scale), int(scale), 1))) for t in tiles]
            tiles = [t[:height, :width] for t in tiles]
            row = [_draw_skeleton(self.images[n], keypoints[n], self.limbs)] + tiles
            rows.append(np.concatenate(row, axis=1))
        return np.clip(np.stack(rows), 0.0, 1.0)

    def on_epoch_end(self, epoch, logs=None):
        with self.writer.as_default():
            tf.summary.image(
                "input+skeleton | heatmaps | voted | field", self.panels(), step=epoch + 1,
                max_outputs=len(self.images),
            )
        self.writer.flush()
