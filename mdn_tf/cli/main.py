"""`mdn-tf`: the command line of mdn_tf, one entry point with subcommands.

    mdn-tf --help                  the commands and what each does
    mdn-tf <command> --help        a command's options

Each command is a module of this package (`COMMANDS`) with `add_arguments`
and `run`; only the chosen command's options are built, and no module
imports TensorFlow before it runs, so `--help` answers at once.
"""

import argparse
import importlib
import sys

from mdn_tf.cli import _common

PROG = "mdn-tf"
# Command name -> module, in the order `mdn-tf --help` lists them.
COMMANDS = {
    "train": "mdn_tf.cli.train",
    "evaluate": "mdn_tf.cli.evaluate",
    "export": "mdn_tf.cli.export",
    "predict": "mdn_tf.cli.predict",
    "visualize": "mdn_tf.cli.visualize",
    "ablation": "mdn_tf.cli.ablation",
    "sample-data": "mdn_tf.cli.sample_data",
    "check-data": "mdn_tf.cli.check_data",
}
DESCRIPTION = ("Mass Displacement Networks for pose estimation (mdn_tf):\n"
               "train, evaluate, export and run models; prepare and check data.")
EPILOG = """\
train, evaluate, export, predict, visualize and ablation run TensorFlow: they need
Keras's TensorFlow backend (KERAS_BACKEND=tensorflow, the default).
Generated and downloaded files (the built-in sample data) go to the cache folder:
$MDN_TF_HOME, else $KERAS_HOME/mdn_tf, else ~/.keras/mdn_tf (now: {cache}).
Training outputs go to --output-dir, by default under ./runs.
"""


def load_command(name):
    """The module of command `name` (its imports are light: see the module docstring)."""
    return importlib.import_module(COMMANDS[name])


def _chosen_command(argv):
    """The first word that names a command (top-level options take no values)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv=()):
    """The `mdn-tf` parser; only the command named in `argv` gets its options."""
    from mdn_tf import cache

    chosen = _chosen_command(argv)
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION,
        epilog=EPILOG.format(cache=cache.cache_dir()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS:
        module = load_command(name)
        sub = commands.add_parser(name, help=_common.summary(module))
        if name == chosen:
            _common.configure_parser(sub, module)
    return parser


def _version():
    from mdn_tf import __version__

    return __version__


def main(argv=None):
    """Runs `mdn-tf ARGV`; returns the exit status (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return _common.run_command(load_command(args.command), args, f"{PROG} {args.command}")


if __name__ == "__main__":
    sys.exit(main())
