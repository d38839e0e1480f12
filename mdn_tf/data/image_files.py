"""Image files: the one JPEG decode training uses, and why a file fails it.

`decode_image` is the only place the pipeline turns file bytes into pixels;
`mdn-tf check-data` calls `diagnose` on every file, which runs the same
decode, so a file the check passes is a file training can read.

What TensorFlow 2.21's `tf.io.decode_jpeg` (`try_recover_truncated=False`,
the default) does with damaged files, measured on the sample's JPEGs
(baseline, optimised and progressive encodings): a file cut anywhere (even
only its last 2 bytes, or exactly at a progressive scan boundary) fails to
decode, so truncation needs no separate check. A truncated file with an
end-of-image marker glued back on decodes (libjpeg only warns), as does
damaged entropy-coded data that happens to stay parseable: libjpeg reports
those on stderr and TensorFlow passes the pixels on, so neither training nor
this check can tell. The op also decodes PNG, GIF, BMP, WebP and JPEG XL
bytes, so a PNG named `.jpg` is accepted by both.
"""

import concurrent.futures
import os

import tensorflow as tf

_SOI = b"\xff\xd8"  # JPEG start-of-image marker
_EOI = b"\xff\xd9"  # JPEG end-of-image marker
# Bytes searched for the end-of-image marker (some cameras append data after it).
_TAIL = 64 * 1024

# Problem kinds (the summary of `mdn-tf check-data` counts these).
MISSING = "missing_file"
UNREADABLE = "unreadable_file"
EMPTY = "empty_file"
NOT_AN_IMAGE = "not_an_image"
TRUNCATED = "truncated_jpeg"
CORRUPT = "corrupt_image"


def decode_image(contents):
    """Decodes image file bytes to RGB uint8 `[H, W, 3]`: what training reads.

    Grey and CMYK JPEGs become 3 channels; a file cut short fails.
    """
    return tf.io.decode_jpeg(contents, channels=3)


def read_bytes(path):
    """Returns `(contents, None)`, or `(None, (kind, reason))` when the file cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(), None
    except FileNotFoundError:
        return None, (MISSING, "file not found")
    except OSError as error:
        return None, (UNREADABLE, f"cannot read the file ({error.strerror or error})")


def diagnose(path):
    """Reads and decodes one image file as training does.

    Eager and thread-safe: the decode releases the GIL, so a thread pool
    checks files in parallel.

    Returns:
        `(None, (height, width))` for a good file, else `((kind, reason), None)`
        with `kind` one of the module's problem kinds and `reason` a short
        sentence naming what is wrong.
    """
    contents, problem = read_bytes(path)
    if problem is not None:
        return problem, None
    return diagnose_bytes(contents)


def diagnose_bytes(contents):
    """`diagnose` for bytes already read."""
    if not contents:
        return (EMPTY, "empty file (0 bytes)"), None
    try:
        shape = decode_image(contents).shape
    except (tf.errors.InvalidArgumentError, tf.errors.InternalError) as error:
        return _classify(contents, error), None
    if shape[0] == 0 or shape[1] == 0:
        return (CORRUPT, f"decodes to an empty image ({shape[0]}x{shape[1]})"), None
    return None, (int(shape[0]), int(shape[1]))


def _classify(contents, error):
    """Names why `contents` failed to decode (only called on failure)."""
    if contents.startswith(_SOI):
        if _EOI not in contents[-_TAIL:]:
            return TRUNCATED, (f"truncated JPEG: the file ({len(contents)} bytes) ends before "
                               "the end-of-image marker")
        return CORRUPT, f"corrupt JPEG data ({_decoder_message(error)})"
    message = _decoder_message(error)
    if "Unknown image file format" in message:
        return NOT_AN_IMAGE, (f"not an image file TensorFlow decodes (JPEG, PNG, GIF, BMP, "
                              f"WebP, JPEG XL); it starts with bytes {contents[:4].hex(' ')}")
    return CORRUPT, f"corrupt or truncated image ({message})"


def _decoder_message(error):
    # The op's message ends with its node name; keep the sentence only.
    text = error.message.strip().splitlines()[-1] if error.message else type(error).__name__
    return text.split(" [Op:")[0].strip()


def describe(path):
    """The reason `path` cannot be used, or None when it decodes (for the pipeline's failures)."""
    if not os.path.exists(path):
        return "file not found"
    problem, _ = diagnose(path)
    return None if problem is None else problem[1]


def scan(paths, workers=None, progress=None):
    """`diagnose` of every path, in threads; results in the order of `paths`.

    Args:
        paths: image files.
        workers: threads. Defaults to the machine's CPU count.
        progress: optional `progress(done)` called from this thread as
            results arrive (in order).

    Returns:
        A list of `diagnose` results, one per path.
    """
    workers = max(1, int(workers or os.cpu_count() or 1))
    results = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        # map keeps the input order whatever finishes first, so reports are deterministic.
        for result in pool.map(diagnose, paths):
            results.append(result)
            if progress is not None:
                progress(len(results))
    return results
