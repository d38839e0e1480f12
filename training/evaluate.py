#!/usr/bin/env python3
"""Evaluates a trained pose model (.keras or SavedModel) on MPII, COCO or the sample.

    python training/evaluate.py --model runs/mpii_sample_small_mdn_noisy_or/model.keras
    python training/evaluate.py --model runs/.../model.keras --data-dir /data/mpii --no-flip
    python training/evaluate.py --help

The same as `mdn-tf evaluate` (`mdn_tf/cli/evaluate.py`, which describes the
tables it prints and the files it writes).
"""

import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mdn_tf.cli.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
