"""training/train_*.py and `mdn-tf train`: options, kill-and-resume, two-worker run.

The scripts run as separate processes, as a user runs them, on a tiny
configuration of the built-in sample (64 x 64 crops, 32 training people).
The uninterrupted run of the resume test goes through `mdn-tf train`, so the
same weights also prove that the command and the script train alike.
"""

import importlib.util
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from mdn_tf.training import command_line

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = [
    "--max-train-records", "32", "--max-valid-records", "4", "--small-filters", "8",
    "--input-size", "64", "64", "--batch-size", "8", "--tensorboard-images", "0",
    "--eval-every", "100", "--verbose", "0", "--seed", "3", "--deterministic",
]


@pytest.fixture(scope="module", autouse=True)
def sample_data_exists():
    # Generated once here, so concurrent script processes never race to write it.
    from mdn_tf.data import sample_data

    sample_data.sample_data()


def _script(dataset, output_dir, *extra, env=None, command_line=False):
    """training/train_<dataset>.py, or with `command_line` `mdn-tf train --dataset <dataset>`."""
    if command_line:
        program = ["-m", "mdn_tf.cli", "train", "--dataset", dataset]
    else:
        program = [str(REPO / "training" / f"train_{dataset}.py")]
    command = [sys.executable, *program, *TINY, "--output-dir", str(output_dir), *extra]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.Popen(command, cwd=REPO, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def _weights(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return arrays


def _assert_same_weights(path_a, path_b):
    a, b = _weights(path_a), _weights(path_b)
    assert sorted(a) == sorted(b) and len(a) > 50
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _kill_after_the_first_backup(process, output_dir, epochs):
    """SIGKILLs a training as soon as its first epoch is backed up (mid-run)."""
    metadata = output_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        try:
            finished = json.loads(metadata.read_text()).get("epoch", 0)
        except (OSError, ValueError):  # not written yet, or caught mid-write
            finished = 0
        if finished >= 1:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (output_dir / "model.keras").exists()
    assert json.loads(metadata.read_text())["epoch"] < epochs


def test_killed_training_resumes_after_its_last_backed_up_epoch(tmp_path):
    # The default-path check of resuming (the slow test below also proves the
    # weights equal an uninterrupted run's): killed after epoch 1 of 2, resumed.
    _kill_after_the_first_backup(_script("mpii", tmp_path, "--epochs", "2"), tmp_path, 2)
    first = tmp_path / "checkpoints" / "epoch_001.weights.h5"
    written = first.stat().st_mtime_ns
    resumed = _finish(_script("mpii", tmp_path, "--epochs", "2"))
    assert "PCKh@0.5" in resumed and "trained" in resumed
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert first.stat().st_mtime_ns == written  # epoch 1 was not trained again
    assert (tmp_path / "checkpoints" / "epoch_002.weights.h5").exists()
    assert (tmp_path / "model.keras").exists()


# Slow: three training processes, two side by side (~1.5 min on 2 cores); resuming
# stays on the default path in the test above.
@pytest.mark.slow
def test_killed_training_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path):
    epochs = ["--epochs", "3"]
    uninterrupted = _script("mpii", tmp_path / "straight", *epochs, command_line=True)
    interrupted = _script("mpii", tmp_path / "killed", *epochs)
    _kill_after_the_first_backup(interrupted, tmp_path / "killed", 3)

    resumed = _finish(_script("mpii", tmp_path / "killed", *epochs))
    _finish(uninterrupted)
    assert "PCKh@0.5" in resumed and "trained" in resumed
    for run in ("straight", "killed"):
        assert json.loads((tmp_path / run / "backup" / "training_metadata.json").read_text())[
            "epoch"] == 3
    _assert_same_weights(tmp_path / "straight" / "checkpoints" / "epoch_003.weights.h5",
                         tmp_path / "killed" / "checkpoints" / "epoch_003.weights.h5")
    # Every epoch was checkpointed, best weights and TensorBoard logs exist.
    assert (tmp_path / "killed" / "best.weights.h5").exists()
    # TensorBoard: losses and learning rate (train/), the PCKh metric (validation/);
    # without the tensorboard package the scripts skip logging (one warning).
    if importlib.util.find_spec("tensorboard") is not None:
        for folder in ("train", "validation"):
            assert any((tmp_path / "straight" / "logs" / folder).iterdir())


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# Slow: two TensorFlow workers side by side (~1 min on 2 cores); the only check of
# --strategy multi_worker, no cheaper version exists (it needs two processes).
@pytest.mark.slow
def test_multi_worker_trains_with_two_processes_on_localhost_to_equal_weights(tmp_path):
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    processes = [
        _script("mpii", tmp_path / "run", "--strategy", "multi_worker", "--epochs", "1",
                "--steps-per-epoch", "2",
                env={"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                              "task": {"type": "worker", "index": index}})})
        for index in range(2)
    ]
    outputs = [_finish(p) for p in processes]
    assert "PCKh@0.5" in outputs[0]  # the chief evaluates and prints the table
    _assert_same_weights(tmp_path / "run" / "workers" / "worker_0.weights.h5",
                         tmp_path / "run" / "workers" / "worker_1.weights.h5")
    assert (tmp_path / "run" / "model.keras").exists()


def test_profiles_give_sample_and_paper_defaults():
    sample = command_line.parse_args("mpii", [])
    assert (sample.sample, sample.model.backbone, sample.model.input_size) == (
        True, "small", (128, 128))
    real = command_line.parse_args("coco", ["--data-dir", "/data/coco"])
    optimization = real.optimization
    assert (real.model.backbone, optimization.optimizer, optimization.learning_rate,
            optimization.lr_decay) == ("resnet50", "rmsprop", 0.0025, 0.99)
    assert real.model.input_size == (256, 192) and real.model.weights == "imagenet"


def test_config_file_fills_options_not_given_on_the_command_line(tmp_path):
    path = tmp_path / "options.json"
    path.write_text(json.dumps({"epochs": 7, "combine": "additive", "batch_size": 4}))
    args = command_line.parse_args("mpii", ["--config", str(path), "--batch-size", "2"])
    assert (args.optimization.epochs, args.model.combine, args.optimization.batch_size) == (
        7, "additive", 2)
    path.write_text(json.dumps({"epochz": 7}))
    with pytest.raises(ValueError, match="unknown option 'epochz'"):
        command_line.parse_args("mpii", ["--config", str(path)])


def test_bad_option_values_are_named():
    with pytest.raises(ValueError, match="--epochs must be a positive integer. Received: 0"):
        command_line.parse_args("mpii", ["--epochs", "0"])
    with pytest.raises(ValueError, match="--lr-decay must be in \\(0, 1\\]. Received: 1.5"):
        command_line.parse_args("mpii", ["--lr-decay", "1.5"])
    with pytest.raises(ValueError, match="--restart cannot be used with --strategy multi_worker"):
        command_line.parse_args("mpii", ["--restart", "--strategy", "multi_worker"])
    with pytest.raises(SystemExit):
        command_line.parse_args("mpii", ["--variant", "cpm"])
