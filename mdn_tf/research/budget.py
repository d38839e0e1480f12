"""The ablation's budget and defaults (no TensorFlow here: `mdn-tf ablation --help` quotes them)."""

import os

# The full run's budget per trained network on the built-in sample: 8 epochs
# of 50 steps (batch 16 over the 800 training people) = 400 steps; Table 4's
# arms train 8 more epochs from their shared start.
DEFAULT_EPOCHS = 8
# --quick: a smoke test of a few minutes.
QUICK = {"max_train_records": 32, "max_valid_records": 16, "input_size": (64, 64)}
SAMPLE_INPUT, QUICK_INPUT, REAL_INPUT = 128, 64, 256
# The full run on the built-in sample keeps its per-job results in the repository.
REPOSITORY_RESULTS = os.path.join("docs", "results", "jobs")
# Every job trains quietly and is scored once, at its end.
JOB_OPTIONS = {"eval_every": 0, "untrained_eval": False, "tensorboard_images": 0,
               "verbose": 0, "keep_checkpoints": 1}
