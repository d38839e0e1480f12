"""`python -m mdn_tf.cli ...` is `mdn-tf ...` (for environments without the console script)."""

import sys

from mdn_tf.cli.main import main

sys.exit(main())
