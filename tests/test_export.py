"""SavedModel export: loads in a process that never imports mdn_tf."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.export import export_saved_model
from mdn_tf.inference import crop_people, predict_keypoints
from mdn_tf.models import build_pose_model
from mdn_tf.skeleton import MPII

FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    saved, inputs, output = sys.argv[1:4]
    data = np.load(inputs)
    served = tf.saved_model.load(saved).signatures["serving_default"]
    result = served(images=tf.constant(data["images"]), boxes=tf.constant(data["boxes"]))
    assert not any(name.startswith("mdn_tf") for name in sys.modules), "mdn_tf was imported"
    np.savez(output, keypoints=result["keypoints"].numpy(), scores=result["scores"].numpy())
    """
)


def _test_image(real_data_dir_or_none):
    """A real MPII frame and its person box when the real data is there."""
    if real_data_dir_or_none is None:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (200, 160, 3), dtype=np.uint8), [30.0, 20.0, 100.0, 160.0]
    folder = real_data_dir_or_none / "mpii"
    person = json.loads((folder / "test_mpii.json").read_text())[0]
    image = tf.io.decode_jpeg(tf.io.read_file(str(folder / person["image"]))).numpy()
    side = 200.0 * person["scale"]
    cx, cy = person["center"]
    return image, [cx - side / 2, cy - side / 2, side, side]


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(3)
    return build_pose_model("small", "mdn", input_shape=(64, 64, 3))


def test_exported_model_matches_keras_in_a_fresh_process(model, tmp_path):
    real = os.environ.get("MDN_TF_REAL_DATA")
    image, box = _test_image(pathlib.Path(real) if real else None)
    images = np.stack([image, image])
    boxes = np.array([box, [0.0, 0.0, image.shape[1], image.shape[0]]], "float32")

    saved = export_saved_model(model, tmp_path / "saved", skeleton="mpii")
    inputs, output = tmp_path / "inputs.npz", tmp_path / "output.npz"
    np.savez(inputs, images=images, boxes=boxes)
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, saved, str(inputs), str(output)],
        capture_output=True, text=True, timeout=300,
        cwd=tmp_path,  # not the repository: mdn_tf must not be importable by accident
    )
    assert run.returncode == 0, run.stderr[-3000:]
    served = np.load(output)

    crops, inverse = crop_people(images, boxes, (64, 64))
    keypoints, scores = predict_keypoints(model, crops, inverse, MPII.flip_permutation())
    assert served["keypoints"].shape == (2, 16, 2)
    np.testing.assert_allclose(served["keypoints"], keypoints.numpy(), atol=1e-3)
    np.testing.assert_allclose(served["scores"], scores.numpy(), atol=1e-5)


def test_saved_model_cli_lists_named_signature(model, tmp_path):
    saved = export_saved_model(model, tmp_path / "saved", flip_test=False)
    shown = subprocess.run(
        ["saved_model_cli", "show", "--dir", saved, "--all"],
        capture_output=True, text=True, timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = shown.stdout
    assert "signature_def['serving_default']" in text
    assert "signature_def['whole_image']" in text
    for name in ("images", "boxes", "keypoints", "scores"):
        assert f"['{name}']" in text, name
    # Only stock ops: the compiled voting op never reaches the graph.
    graph = (pathlib.Path(saved) / "saved_model.pb").read_bytes()
    assert b"Mdn>" not in graph


def test_export_rejects_models_without_final_maps(tmp_path):
    inputs = tf.keras.Input((32, 32, 3))
    plain = tf.keras.Model(inputs, tf.keras.layers.Conv2D(16, 1)(inputs))
    with pytest.raises(ValueError, match=r'model must return a dict with a "final" output'):
        export_saved_model(plain, tmp_path / "saved")
