#!/usr/bin/env python3
"""The paper's Tables 1-3 in miniature and a paired verdict (Table 4), with seeds.

    python training/ablation.py                 # all four tables (~110 min, 2 CPU cores)
    python training/ablation.py --quick         # ~4 min smoke test
    python training/ablation.py --help

The same as `mdn-tf ablation` (`mdn_tf/cli/ablation.py`, which describes the
outputs).
"""

import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mdn_tf.cli.ablation import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
