#!/usr/bin/env python3
"""Trains a Mass Displacement Network on COCO and prints the validation table.

    python training/train_coco.py                      # built-in sample, CPU, minutes
    python training/train_coco.py --data-dir /data/coco  # real data, paper defaults
    python training/train_coco.py --help

The same as `mdn-tf train --dataset coco` (`mdn_tf/cli/train.py`). Options,
outputs and resume behaviour: docs/models.md and `mdn_tf/training/run.py`.
"""

import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mdn_tf.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(dataset="coco"))
