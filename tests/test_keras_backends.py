"""The layer, losses and models on the JAX and PyTorch backends of Keras.

Keras fixes its backend when it is imported, so each backend gets its own
`python -m pytest` subprocess with `KERAS_BACKEND` set, running the
backend-agnostic test files:

- `test_voting_any_backend.py`: the `keras.ops` voting path against the
  NumPy reference and finite differences (float64; JAX with
  `JAX_ENABLE_X64=1`), certain votes, NaN/inf votes, `jax.jit`;
- `test_models_any_backend.py`: backbones and variants, the STN warp, the
  losses, `model.fit` fed by the tf.data pipeline, and `.keras` files
  written under another backend.

`.keras` round trips: this (TensorFlow) process saves a model that the JAX
and PyTorch runs load; each of them saves the model it trained, which this
process loads back (and the PyTorch run also loads the JAX file). Outputs
must agree to 1e-5. A backend that is not installed is skipped (CI installs
jax with the test extra; see docs/models.md for PyTorch).

JAX runs with `--xla_backend_optimization_level=0`: these tests compile
dozens of small programs, and XLA's CPU optimisations cost several times
more than they save there (no effect on results).
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
BACKENDS = ["jax", "torch"]


def _require(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")


def _run_pytest(backend, test_file, float64=False, extra_env=None):
    """Runs one test file under `backend`; fails with its output on failure."""
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(extra_env or {}),
    }
    if backend == "jax":
        env["JAX_PLATFORMS"] = "cpu"
        flags = env.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
        env["XLA_FLAGS"] = flags.strip()
        if float64:
            env["JAX_ENABLE_X64"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(TESTS / test_file)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{test_file} failed with KERAS_BACKEND={backend}:\n{output[-6000:]}"
    )
    assert " passed" in output, output[-2000:]
    return output


@pytest.mark.parametrize("backend", BACKENDS)
def test_voting_matches_reference_and_finite_differences_on(backend):
    _require(backend)
    _run_pytest(backend, "test_voting_any_backend.py", float64=True)


def _save_model_with_outputs(model, folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    outputs = {name: keras.ops.convert_to_numpy(value) for name, value in model(images).items()}
    np.savez(folder / "io.npz", images=images, **outputs)


def _assert_loads_with_equal_outputs(folder):
    import mdn_tf.models  # noqa: F401  (registers the layers and losses)

    model = keras.models.load_model(folder / "model.keras")
    saved = np.load(folder / "io.npz")
    for name, value in model(saved["images"]).items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(value), saved[name], rtol=0,
                                   atol=1e-5, err_msg=f"{folder.name}: {name}")


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """Folder of saved models: `tensorflow/` now, one per backend as they run."""
    from mdn_tf.losses import build_losses
    from mdn_tf.models import build_pose_model

    root = tmp_path_factory.mktemp("keras_files")
    keras.utils.set_random_seed(3)
    model = build_pose_model("small", "mdn", combine="noisy_or", kernel="gaussian",
                             input_shape=(32, 32, 3), small_filters=8)
    # Non-zero offsets, so that the votes really move.
    for layer in model.layers:
        if "offsets" in layer.name and hasattr(layer, "kernel"):
            layer.kernel.assign(np.random.default_rng(6).normal(0, 0.05, layer.kernel.shape))
    losses, weights = build_losses(model.output_names, "mdn", "noisy_or")
    model.compile(optimizer="adam", loss=losses, loss_weights=weights)
    images = np.random.default_rng(7).random((2, 32, 32, 3)).astype("float32")
    _save_model_with_outputs(model, root / "tensorflow", images)
    return root


@pytest.mark.parametrize("backend", BACKENDS)
def test_models_train_and_keras_files_cross_backends_on(backend, keras_files):
    _require(backend)
    # Files from TensorFlow, and from the backends that ran before this one.
    to_load = [str(folder) for folder in sorted(keras_files.iterdir())]
    saved_here = keras_files / backend
    output = _run_pytest(backend, "test_models_any_backend.py", extra_env={
        "MDN_TF_KERAS_FILES_TO_LOAD": os.pathsep.join(to_load),
        "MDN_TF_KERAS_FILE_SAVE_DIR": str(saved_here),
    })
    assert "skipped" not in output, output[-2000:]  # the round trips did run
    # ... and the model trained under `backend` loads here, under TensorFlow.
    _assert_loads_with_equal_outputs(saved_here)
