"""The `mdn-tf` command line: one module per subcommand (see `main.py`).

Importing this package or any command module does not import TensorFlow:
each command imports the library (training, evaluation, export, ...) inside
its `run`, so that `mdn-tf --help` and `mdn-tf <command> --help` answer at
once. Those function-level imports are on purpose; the library packages
import at the top (tests/test_import_graph.py).
"""
