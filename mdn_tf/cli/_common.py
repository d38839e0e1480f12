"""What every `mdn-tf` subcommand shares: its parser, its run, its error line.

A subcommand module has a docstring (first line: the one-line help; the rest:
the long description), `add_arguments(parser)` and `run(args) -> int`. This
module turns such a module into a parser or a standalone `main`, so that
`mdn-tf <command>` and the scripts in `training/` behave alike.

Nothing here imports TensorFlow or Keras: `mdn-tf --help` must stay fast.
"""

import argparse
import os
import sys


class UserError(Exception):
    """A mistake in the command line or the input files, reported as one line.

    Raise it (or ValueError / OSError, which count as user errors too) with
    a message that names the argument, what was expected and what was
    received; `run_command` prints it without a traceback.
    """


# Exceptions shown as one line. Everything else is a bug and keeps its traceback.
USER_ERRORS = (UserError, ValueError, OSError)
# Set to 1 to see the traceback of a user error as well (debugging).
TRACEBACK_ENV = "MDN_TF_TRACEBACK"


def summary(module):
    """The one-line help of a subcommand module (its docstring's first line)."""
    lines = (module.__doc__ or "").strip().splitlines()
    return lines[0].rstrip(".") if lines else ""


def configure_parser(parser, module):
    """Gives `parser` the module's description and options."""
    parser.description = (module.__doc__ or "").strip()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    module.add_arguments(parser)
    return parser


def build_parser(module, prog=None):
    """A standalone `argparse.ArgumentParser` for one subcommand module."""
    return configure_parser(argparse.ArgumentParser(prog=prog), module)


def run_command(module, args, prog):
    """Runs `module.run(args)`; returns its exit status, 1 after a user error.

    User errors (`USER_ERRORS`) print `<prog>: error: <message>` on stderr,
    with no traceback (unless MDN_TF_TRACEBACK=1); Ctrl-C exits with 130.
    """
    try:
        status = module.run(args)
    except USER_ERRORS as error:
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        message = str(error) or type(error).__name__
        if isinstance(error, OSError) and error.filename and str(error.filename) not in message:
            message = f"{message}: {error.filename}"
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def require_path(path, option, kind="file"):
    """Returns `path` if it exists as a `kind` ("file", "dir" or "any"); else a UserError.

    Example: `require_path(args.data_dir, "--data-dir", "dir")` turns a typo
    into `--data-dir must be an existing folder. Received: /dta/mpii`.
    """
    exists = {"file": os.path.isfile, "dir": os.path.isdir, "any": os.path.exists}[kind]
    if not exists(path):
        what = {"file": "an existing file", "dir": "an existing folder",
                "any": "an existing file or folder"}[kind]
        raise UserError(f"{option} must be {what}. Received: {option} {path}")
    return path


def standalone_main(module, argv=None, prog=None):
    """Parses `argv` with the module's own parser and runs it; returns the exit status.

    For the thin scripts in `training/` and each module's `main`:

        def main(argv=None):
            return standalone_main(sys.modules[__name__], argv, prog="mdn-tf train")
    """
    parser = build_parser(module, prog)
    return run_command(module, parser.parse_args(argv), parser.prog)


def require_tensorflow_backend(command):
    """Raises a UserError unless Keras runs on TensorFlow (training, evaluation, export need it)."""
    from mdn_tf.backend_check import BackendError
    from mdn_tf.backend_check import require_tensorflow_backend as require

    try:
        require(f"mdn-tf {command}")
    except BackendError as err:
        raise UserError(str(err)) from None
