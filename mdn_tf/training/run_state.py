"""What the training loops share about a run's state on disk and its data seeds."""

import json
import os


def completed_epochs(backup_dir):
    """Epochs finished according to a `BackupAndRestore` folder (0 if none)."""
    # BackupAndRestore's own metadata file; read here to start the data stream there.
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f)["epoch"])


def epoch_seed(seed, epoch):
    """The data seed of one epoch: distinct per epoch, fixed by the run's seed."""
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
