"""Callbacks of the training scripts: best weights, epoch checkpoints, images."""

import numpy as np
import pytest

from mdn_tf.models import build_pose_model
from mdn_tf.skeleton import MPII, voting_edges
from mdn_tf.training.callbacks import (
    BestWeights,
    EpochCheckpoint,
    TensorBoardImages,
    ValidationMetric,
)


@pytest.fixture(scope="module")
def model():
    return build_pose_model("small", "mdn", input_shape=(32, 32, 3), small_filters=8)


def test_best_weights_survive_a_restart_and_ignore_worse_values(model, tmp_path):
    best = BestWeights(str(tmp_path), "val_pckh")
    best.set_model(model)
    best.on_epoch_end(0, {"val_pckh": 40.0})
    first = (tmp_path / "best.weights.h5").stat().st_mtime_ns
    restarted = BestWeights(str(tmp_path), "val_pckh")  # a new process after a kill
    restarted.set_model(model)
    assert restarted.best == 40.0
    restarted.on_epoch_end(1, {"val_pckh": 30.0})
    restarted.on_epoch_end(2, {"loss": 1.0})  # no metric this epoch
    assert (tmp_path / "best.weights.h5").stat().st_mtime_ns == first
    restarted.on_epoch_end(3, {"val_pckh": 50.0})
    assert '"epoch": 4' in (tmp_path / "best.json").read_text()


def test_epoch_checkpoints_keep_the_newest(model, tmp_path):
    checkpoint = EpochCheckpoint(str(tmp_path), keep=2)
    checkpoint.set_model(model)
    for epoch in range(4):
        checkpoint.on_epoch_end(epoch, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_003.weights.h5", "epoch_004.weights.h5"]


def test_validation_metric_runs_every_n_epochs_and_after_the_last(model):
    calls = []
    metric = ValidationMetric("val_pckh", lambda m: calls.append(1) or 12.5, every=3)
    metric.set_model(model)
    metric.set_params({"epochs": 4})
    logs = [{} for _ in range(4)]
    for epoch in range(4):
        metric.on_epoch_end(epoch, logs[epoch])
    assert [("val_pckh" in log) for log in logs] == [False, False, True, True]
    assert logs[2]["val_pckh"] == 12.5


def test_tensorboard_images_show_input_heatmaps_votes_and_field(model, tmp_path):
    pytest.importorskip("tensorboard", reason="tf.summary needs the tensorboard package")
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    callback = TensorBoardImages(
        str(tmp_path), images, MPII.limbs, voting_edges(MPII, "cross_part"),
        decode=lambda maps: np.zeros(maps.shape[:1] + (16, 2), np.float32),
    )
    callback.set_model(model)
    panels = callback.panels()
    assert panels.shape == (2, 32, 4 * 32, 3)
    assert panels.min() >= 0.0 and panels.max() <= 1.0
    callback.on_epoch_end(0)
    assert any((tmp_path / "images").iterdir())
