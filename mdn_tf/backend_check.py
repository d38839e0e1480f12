"""Which Keras backend is running, and a clear stop for TensorFlow-only tools.

The layer, the losses and the models of mdn_tf run on every Keras 3 backend
(TensorFlow, JAX, PyTorch). The training scripts, evaluation and SavedModel
export use TensorFlow APIs directly (`tf.distribute`, `tf.summary`,
SavedModel, the compiled op) and call `require_tensorflow_backend` first, so
that another backend stops them with one readable message instead of a
traceback from deep inside TensorFlow.

Keras fixes its backend when it is first imported, from the environment
variable `KERAS_BACKEND` (else `~/.keras/keras.json`, else TensorFlow).
"""

import os

import keras


class BackendError(RuntimeError):
    """A TensorFlow-only part of mdn_tf was used under another Keras backend."""


def current_backend():
    """The name of the running Keras backend: "tensorflow", "jax", "torch", ..."""
    return keras.backend.backend()


def is_tensorflow_backend():
    """True when Keras runs on TensorFlow."""
    return current_backend() == "tensorflow"


def require_tensorflow_backend(what):
    """Raises `BackendError` unless Keras runs on the TensorFlow backend.

    Args:
        what: the tool that needs TensorFlow, as the user knows it (for
            example `"training/train_mpii.py"` or `"mdn-tf export"`); it
            starts the message.

    Raises:
        BackendError: Keras runs on another backend. The message names the
            backend, the value of `KERAS_BACKEND`, and how to run the tool.
    """
    backend = current_backend()
    if backend == "tensorflow":
        return
    variable = os.environ.get("KERAS_BACKEND")
    source = (
        f"KERAS_BACKEND={variable}" if variable
        else "KERAS_BACKEND is not set, so Keras read ~/.keras/keras.json"
    )
    raise BackendError(
        f"{what} needs the TensorFlow backend of Keras, but Keras is running on the "
        f"{backend!r} backend ({source}). Run it with KERAS_BACKEND=tensorflow; the "
        "mdn_tf layer, losses and models themselves also work on the JAX and PyTorch backends."
    )
