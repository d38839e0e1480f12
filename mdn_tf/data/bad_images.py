"""Images that fail to decode in the tf.data pipeline: stop with their name, or skip them.

`decode_stage` reads and decodes each example's image inside a one-element
dataset with `ignore_errors()`, concatenated with a stand-in for the
example and cut to its first element (`take(1)`). A good image costs one
in-graph decode plus the small dataset (about 0.15 ms of CPU per example,
measured; a 320x240 JPEG takes 0.45 ms to decode, a 640x480 COCO image
about 2 ms), and the stand-in is never read. A bad image is caught with its
record, which `ignore_errors()` on the whole dataset would lose: only then
is the stand-in read, and it runs Python (a `tf.py_function`) that decodes
the file again to say why (`image_files.diagnose`), records it in a
`BadImageLog`, and then:

- `on_bad_image="error"`: an in-graph assertion fails with
  "bad image <path> (<record>): <reason>" (an `InvalidArgumentError`);
  `call_with_one_line_errors` turns that into a `BadImageError` for
  command lines.
- `on_bad_image="skip"`: the example is left out; the log prints each file
  once and counts the examples skipped.
"""

import functools
import gc
import re
import sys
import threading

import tensorflow as tf

from mdn_tf.data import image_files

ON_BAD_IMAGE = ("error", "skip")
_PREFIX = "bad image "
# Appended to the one-line error that stops a training run.
TRAINING_HINT = ("; `mdn-tf check-data` lists every bad file (--on-bad-image skip leaves "
                 "bad training images out)")


class BadImageError(ValueError):
    """A training image that cannot be decoded; its message is one line naming the file."""


class BadImageLog:
    """What the pipeline met: each bad file once, and how many examples were left out.

    One log can serve several datasets (e.g. every epoch's training
    dataset), so a file is announced once per run, not once per epoch.
    The counters are read from Python (a callback) while tf.data threads
    write them, hence the lock.

    Args:
        announce: print "skipping bad image ..." the first time a file is
            met (skip mode). Defaults to True.
        total_files: the number of distinct image files of the records;
            when every one of them is bad, skip mode gives up with an error
            instead of looking for a good example forever (a repeated
            dataset). Defaults to None (no such check).
        stream: where to print. Defaults to `sys.stderr`.
    """

    def __init__(self, announce=True, total_files=None, stream=None):
        self.announce = announce
        self.total_files = total_files
        self.stream = stream
        self.files = {}  # path -> line, in the order met
        self.skipped = 0  # examples left out (a file used by two people counts twice)
        self._lock = threading.Lock()

    def report(self, path, source, skipped=True):
        """Records one failed example; returns its line (called only on failure).

        `skipped` False (error mode) records the file without counting or
        announcing a skip.
        """
        path = path.decode() if isinstance(path, bytes) else str(path)
        with self._lock:
            line = self.files.get(path)
            first = line is None
            if first:
                reason = image_files.describe(path) or "failed to decode in the pipeline"
                line = f"{_PREFIX}{path} ({source or 'record'}): {reason}"
                self.files[path] = line
            self.skipped += int(skipped)
        if first and skipped and self.announce:
            print(f"skipping {line}", file=self.stream or sys.stderr, flush=True)
        return line

    def all_bad(self):
        """True when every one of `total_files` files has failed."""
        with self._lock:
            return bool(self.total_files) and len(self.files) >= self.total_files

    @property
    def first(self):
        """The line of the first bad file met, or None."""
        with self._lock:
            return next(iter(self.files.values()), None)

    def counts(self):
        """`(files, examples)` left out so far."""
        with self._lock:
            return len(self.files), self.skipped


def check_mode(on_bad_image):
    """Raises a ValueError unless `on_bad_image` is "error" or "skip"."""
    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(
            f"on_bad_image must be one of {ON_BAD_IMAGE}. Received: on_bad_image={on_bad_image!r}"
        )


def decode_stage(dataset, sources, on_bad_image="error", log=None):
    """Adds "pixels" (uint8 `[H, W, 3]`) to each `(example, seed)` element.

    Args:
        dataset: elements `(example, seed)`; `example` holds "image" (path),
            "index" (position in the records) and optionally "contents"
            (the file bytes, when cached).
        sources: the records' `source` strings, indexed by "index".
        on_bad_image: "error" or "skip" (see the module docstring).
            Defaults to "error".
        log: a `BadImageLog` to share; a new one when None.

    Returns:
        The dataset with "pixels" added and "contents" dropped; in skip mode,
        without the examples whose image failed.
    """
    check_mode(on_bad_image)
    log = BadImageLog() if log is None else log
    report = functools.partial(_report, log, list(sources), on_bad_image == "skip")
    failed = tf.zeros([0, 0, 3], tf.uint8)

    def decode(example, seed):
        contents = example["contents"] if "contents" in example else tf.io.read_file(example["image"])
        return {**_without_contents(example), "pixels": image_files.decode_image(contents)}, seed

    def on_failure(example, seed):
        line = tf.py_function(report, [example["image"], example["index"]], tf.string)
        with tf.control_dependencies([tf.debugging.Assert(False, [line], summarize=1)]):
            return tf.nest.map_structure(tf.identity, (example, seed))

    def on_skip(example, seed):
        # Empty unless every file has failed: then stop rather than search forever.
        give_up = tf.py_function(report, [example["image"], example["index"]], tf.string)
        with tf.control_dependencies([tf.debugging.Assert(give_up == "", [give_up], summarize=1)]):
            return tf.nest.map_structure(tf.identity, (example, seed))

    def one(example, seed):
        attempt = tf.data.Dataset.from_tensors((example, seed)).map(decode).ignore_errors()
        # Read only when the attempt came out empty: concatenate opens its
        # second dataset after the first ends, and take(1) stops after a success.
        stand_in = tf.data.Dataset.from_tensors(
            ({**_without_contents(example), "pixels": failed}, seed)
        )
        if on_bad_image == "error":
            stand_in = stand_in.map(on_failure)
        else:
            stand_in = stand_in.map(on_skip).filter(lambda example, seed: False)
        return attempt.concatenate(stand_in).take(1)

    # deterministic=True: the order (hence every epoch's batches) does not
    # depend on which decode finishes first.
    return dataset.interleave(
        one, cycle_length=tf.data.AUTOTUNE, block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )


def _without_contents(example):
    return {key: value for key, value in example.items() if key != "contents"}


def _report(log, sources, skipped, path, index):
    """Error mode: the line. Skip mode: "" (skip it), or the give-up line when all are bad."""
    index = int(index.numpy())
    source = sources[index] if 0 <= index < len(sources) else f"record {index}"
    line = log.report(path.numpy(), source, skipped)
    if not skipped:
        return line
    if log.all_bad():
        return f"{line}; and every one of the {log.total_files} image files is bad"
    return ""


_ASSERTION = re.compile(r"assertion failed: \[(" + _PREFIX + r".*)\]")


def bad_image_line(error):
    """The "bad image ..." line inside a pipeline's `InvalidArgumentError`, or None."""
    match = _ASSERTION.search(getattr(error, "message", "") or str(error))
    return match.group(1) if match else None


def call_with_one_line_errors(function, *args, hint="", **kwargs):
    """Returns `function(*args, **kwargs)`; a bad image ends it as a one-line `BadImageError`.

    Catches a `BadImageError`, or a pipeline's `InvalidArgumentError` holding
    a "bad image ..." line, and raises a `BadImageError` with that line plus
    `hint`. Other errors pass unchanged.
    """
    line = None
    try:
        return function(*args, **kwargs)
    except BadImageError as error:
        line = str(error)
    except tf.errors.OpError as error:  # wrapped in UnknownError when raised in a generator
        line = bad_image_line(error)
        if line is None:
            raise
        line += hint
    # The caught error's traceback held model.fit's frames and, through them,
    # its data iterators. Left to the interpreter's exit, freeing them
    # deadlocks (a generator-fed tf.data stream is mid-read), so free them
    # here, outside the except block that kept them alive.
    gc.collect()
    raise BadImageError(line)
