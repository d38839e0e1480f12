#!/usr/bin/env python3
"""Exports a trained .keras pose model as a SavedModel for stock TF Serving.

    python training/export.py --model runs/.../model.keras --output exported/mdn/1

The same as `mdn-tf export` (`mdn_tf/cli/export.py`, which describes the
SavedModel's signatures; README, "Serving with TF Serving").
"""

import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mdn_tf.cli.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
