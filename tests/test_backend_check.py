"""The stop sign of TensorFlow-only tools on another Keras backend."""

import keras
import pytest

from mdn_tf.backend_check import BackendError, current_backend, require_tensorflow_backend


def test_passes_on_the_tensorflow_backend():
    assert current_backend() == "tensorflow"  # the test process runs TensorFlow
    require_tensorflow_backend("mdn-tf train")


def test_names_the_tool_the_backend_and_keras_backend(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(BackendError, match=(
            r"^mdn-tf export needs the TensorFlow backend of Keras, but Keras is running on "
            r"the 'jax' backend \(KERAS_BACKEND=jax\)\. Run it with KERAS_BACKEND=tensorflow")):
        require_tensorflow_backend("mdn-tf export")


def test_says_where_the_backend_came_from_without_the_variable(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(RuntimeError, match=r"'torch' backend \(KERAS_BACKEND is not set, so "
                                           r"Keras read ~/.keras/keras.json\)"):
        require_tensorflow_backend("training/train_mpii.py")
