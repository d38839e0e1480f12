"""Reading arbitrary photos for prediction: any format TensorFlow decodes.

JPEG, PNG, BMP and GIF (first frame) become `[H, W, 3]` uint8 RGB; grey and
RGBA images are converted. A file that cannot be read fails with one line
naming it, never a TensorFlow traceback.
"""

import os
import re

import numpy as np


class ImageReadError(ValueError):
    """An image file is missing or not decodable; the message names the file."""


def read_image(path):
    """Decodes one image file to RGB.

    Args:
        path: image file (JPEG, PNG, BMP or GIF; a GIF's first frame).

    Returns:
        `[H, W, 3]` uint8 NumPy array.

    Raises:
        ImageReadError: the file is missing, unreadable or not an image
            TensorFlow decodes; the message names `path` and the reason.
    """
    import tensorflow as tf

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(f"cannot read image {path}: no such file")
    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.uint8,
                                   expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError,
            tf.errors.PermissionDeniedError, tf.errors.UnknownError) as error:
        raise ImageReadError(f"cannot read image {path}: {_reason(error)}") from None
    image = np.asarray(image)
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageReadError(f"cannot read image {path}: it has no pixels "
                             f"(decoded shape {image.shape})")
    return image


def _reason(error):
    """The library's own words, without the eager op's node name and op tag."""
    text = error.message.strip().splitlines()[0] if error.message.strip() else ""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text)
    return text or type(error).__name__
