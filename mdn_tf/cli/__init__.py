"""The `mdn-tf` command line: one module per subcommand (see `main.py`).

Importing this package or any command module does not import TensorFlow.
"""
