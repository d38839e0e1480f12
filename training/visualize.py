#!/usr/bin/env python3
"""Figures of a trained model: predicted skeletons and the paper's MDN panels.

    python training/visualize.py --model runs/mpii_sample_small_mdn_additive/model.keras
    python training/visualize.py --help

The same as `mdn-tf visualize` (`mdn_tf/cli/visualize.py`, which describes
the two PNGs it writes).
"""

import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mdn_tf.cli.visualize import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
