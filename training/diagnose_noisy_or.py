#!/usr/bin/env python3
"""Why does an end-to-end noisy-OR MDN score what it scores? Measurements on ablation runs.

    python training/ablation.py --tables 1            # trains the networks measured here
    python training/diagnose_noisy_or.py              # reads runs/ablation, ~5 min on 2 cores
    python training/diagnose_noisy_or.py --help

The measurements are `mdn_tf/research/noisy_or_diagnosis.py`'s (its
docstring lists them); the report goes to `<ablation-dir>/noisy_or_diagnosis.md`.
"""

import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mdn_tf.research.noisy_or_diagnosis import main  # noqa: E402

if __name__ == "__main__":
    main()
