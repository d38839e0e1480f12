"""Models, losses, the tf.data pipeline and .keras files on the JAX and PyTorch backends.

Run by `tests/test_keras_backends.py` in a subprocess per backend
(`KERAS_BACKEND=jax`, `KERAS_BACKEND=torch`). In the TensorFlow test
process only the STN warp test runs; `test_models_build.py`,
`test_models_training.py` and `test_losses.py` cover the rest there. Two environment variables tie the
subprocess to the cross-backend `.keras` round trips:

- `MDN_TF_KERAS_FILES_TO_LOAD`: folders (joined by `os.pathsep`) that each
  hold `model.keras` and `io.npz` (images and outputs) written under another
  backend; each file must load here and give the same outputs to 1e-5.
- `MDN_TF_KERAS_FILE_SAVE_DIR`: where the model trained here is saved, with
  its outputs, for another backend to load.
"""

import os
import pathlib

import keras
import numpy as np
import pytest

import reference_warp
from mdn_tf import losses
from mdn_tf.models import BilinearWarp, build_pose_model

BACKEND = keras.backend.backend()
# Everything but the STN warp test is covered on TensorFlow by
# test_models_build.py, test_models_training.py and test_losses.py.
other_backends_only = pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="TensorFlow is covered by test_models_build.py, test_models_training.py, "
           "test_losses.py; this test runs on JAX and PyTorch via test_keras_backends.py",
)
TINY = {"small": dict(small_filters=8),
        "hourglass": dict(num_stacks=2, hourglass_filters=16, hourglass_depth=2),
        "resnet50": {}}


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _images(batch=2, size=64, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, 3)).astype("float32")


@other_backends_only
@pytest.mark.parametrize("backbone,variant", [
    ("small", "baseline"), ("small", "posthoc"), ("small", "stn"), ("small", "mdn"),
    ("hourglass", "mdn"), ("resnet50", "stn"),
])
def test_backbones_and_variants_give_the_documented_outputs(backbone, variant):
    model = build_pose_model(backbone, variant, input_shape=(64, 64, 3), **TINY[backbone])
    outputs = model(_images())
    expected = {"final": (2, 16, 16, 16), "heatmaps": (2, 16, 16, 16)}
    if variant != "baseline":
        expected.update(offsets_x=(2, 16, 16, 31), offsets_y=(2, 16, 16, 31))
    if backbone == "hourglass":
        expected.update(stack_1_heatmaps=(2, 16, 16, 16))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == expected
    final = _numpy(outputs["final"])  # noisy-OR (the default) gives probabilities
    assert final.min() >= 0.0 and final.max() <= 1.0


@pytest.mark.parametrize("combine", ["noisy_or", "additive", "max"])
def test_stn_warp_matches_a_numpy_backward_warp(combine):
    rng = np.random.default_rng(4)
    maps = rng.random((2, 6, 7, 3)).astype(np.float32)
    edges = [(0, 0), (1, 1), (2, 2), (0, 1), (2, 1)]
    ox = rng.normal(0, 2.5, (2, 6, 7, 5)).astype(np.float32)  # some reads leave the map
    oy = rng.normal(0, 2.5, (2, 6, 7, 5)).astype(np.float32)
    got = _numpy(BilinearWarp(combine=combine, edges=edges)(maps, ox, oy))
    np.testing.assert_allclose(got, reference_warp.backward_warp(maps, ox, oy, edges, 3, combine),
                               atol=1e-5)


@other_backends_only
def test_losses_match_numpy():
    rng = np.random.default_rng(0)
    targets = (rng.random((2, 4, 5, 3)) > 0.7).astype("float32")
    weights = (rng.random((2, 4, 5, 3)) > 0.3).astype("float32")
    logits = rng.normal(0, 3, (2, 4, 5, 3)).astype("float32")
    maps = rng.random((2, 4, 5, 3)).astype("float32")
    maps[0, 0, 0] = [0.0, 1.0, 1e-7]

    def per_example(values):
        return values.reshape(2, -1).mean(-1)

    bce = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    np.testing.assert_allclose(_numpy(losses.heatmap_bce(targets, logits, weights)),
                               per_example(bce * weights), rtol=1e-5)
    error = np.abs(logits - maps)
    huber = np.where(error <= 1.0, 0.5 * error**2, error - 0.5) * weights
    poisoned = np.where(weights > 0, maps, np.nan).astype("float32")  # masked-out NaN targets
    np.testing.assert_allclose(
        _numpy(losses.masked_huber(poisoned, logits, weights)),
        huber.reshape(2, -1).sum(-1) / weights.reshape(2, -1).sum(-1), rtol=1e-5)
    p = np.clip(maps.astype("float64"), np.float32(1e-6), np.float32(1 - 1e-6))
    cross_entropy = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    np.testing.assert_allclose(_numpy(losses.final_map_loss(targets, maps, "noisy_or")),
                               per_example(cross_entropy), rtol=1e-4)
    packed = losses.pack_target(targets, weights).numpy()
    np.testing.assert_allclose(_numpy(losses.HeatmapBCE()(packed, logits)),
                               per_example(bce * weights).mean(), rtol=1e-5)


def _sample_dataset(output_names, combine, batch=4, size=32):
    """One batch of the built-in MPII sample through the tf.data pipeline, repeated."""
    from mdn_tf.data import build_dataset, mpii, sample_data
    from mdn_tf.data.targets import MDNCodec

    records = mpii.load_annotations(sample_data.sample_data().mpii_train)[:batch]
    codec = MDNCodec("mpii", map_size=(size // 4, size // 4), mode="cross_part",
                     heatmap_radius=1.5,
                     final_target="gaussian" if combine == "additive" else "disk")
    dataset = build_dataset(records, "mpii", batch_size=batch, input_size=(size, size),
                            codec=codec)
    dataset = dataset.map(
        lambda images, targets: (images, losses.pack_targets(targets, output_names)))
    return dataset.take(1).cache().repeat(), codec


@other_backends_only
def test_tf_data_pipeline_feeds_fit_and_the_mdn_loss_goes_down():
    keras.utils.set_random_seed(0)
    model = build_pose_model("small", "mdn", combine="noisy_or", input_shape=(32, 32, 3),
                             small_filters=8, epsilon_c=1.5)
    dataset, _ = _sample_dataset(model.output_names, "noisy_or")
    loss, weights = losses.build_losses(model.output_names, "mdn", "noisy_or")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss, loss_weights=weights)
    history = model.fit(dataset, steps_per_epoch=1, epochs=12, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < 0.7 * history["loss"][0], history
    assert history["final_loss"][-1] < 0.7 * history["final_loss"][0], history

    save_dir = os.environ.get("MDN_TF_KERAS_FILE_SAVE_DIR")
    if save_dir:
        save_dir = pathlib.Path(save_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        model.save(save_dir / "model.keras")
        images = _images(batch=2, size=32, seed=1)
        outputs = {name: _numpy(value) for name, value in model(images).items()}
        np.savez(save_dir / "io.npz", images=images, **outputs)


def _files_to_load():
    folders = os.environ.get("MDN_TF_KERAS_FILES_TO_LOAD", "")
    return [folder for folder in folders.split(os.pathsep) if folder]


@other_backends_only
@pytest.mark.parametrize("folder", _files_to_load() or [None])
def test_keras_file_saved_under_another_backend_gives_the_same_outputs(folder):
    if folder is None:
        pytest.skip("MDN_TF_KERAS_FILES_TO_LOAD is not set (test_keras_backends.py sets it)")
    import mdn_tf.models  # noqa: F401  (registers the layers and losses)

    folder = pathlib.Path(folder)
    model = keras.models.load_model(folder / "model.keras")
    saved = np.load(folder / "io.npz")
    outputs = model(saved["images"])
    for name, value in outputs.items():
        np.testing.assert_allclose(_numpy(value), saved[name], rtol=0, atol=1e-5, err_msg=name)
