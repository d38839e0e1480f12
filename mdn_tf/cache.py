"""The one folder for what mdn_tf generates or downloads (the built-in sample data).

    $MDN_TF_HOME                       if set
    <Keras home>/mdn_tf                otherwise

where the Keras home is found as Keras 3 finds its own
(`keras.src.backend.config`): `$KERAS_HOME` if set, else `~/.keras`, or
`/tmp/.keras` when the home folder is not writable. When the default folder
cannot be written, it falls back to `<tmp>/.keras/mdn_tf` as
`keras.utils.get_file` does for its cache. Never the package's own folder or
the source tree, so a read-only or shared installation works. Training
outputs do not go here (they go to `--output-dir`, by default `./runs`).

Keras is not imported: `mdn-tf --help` prints this folder and must stay fast.
"""

import os
import tempfile

HOME_ENV = "MDN_TF_HOME"


def keras_home():
    """Keras's home folder, resolved by Keras 3's own rule (without importing Keras)."""
    if "KERAS_HOME" in os.environ:
        return os.path.abspath(os.path.expanduser(os.environ["KERAS_HOME"]))
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def _writable(path):
    """True when `path`, or the nearest folder above it that exists, can be written."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK)


def cache_dir(*parts):
    """The cache folder (or a path inside it); nothing is created here.

    Args:
        *parts: path components under the cache folder, e.g. `"sample"`.

    Returns:
        An absolute path. `$MDN_TF_HOME` is used as given (even if it cannot
        be written: the user asked for it, and writing there reports why);
        the default moves to `<tmp>/.keras/mdn_tf` when it cannot be written.
    """
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        root = os.path.abspath(os.path.expanduser(explicit))
    else:
        root = os.path.join(keras_home(), "mdn_tf")
        if not _writable(root):
            root = os.path.join(tempfile.gettempdir(), ".keras", "mdn_tf")
    return os.path.join(root, *parts)
