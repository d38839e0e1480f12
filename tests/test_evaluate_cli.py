"""training/evaluate.py and training/export.py (thin wrappers of `mdn-tf evaluate`
and `mdn-tf export`) on the built-in sample."""

import json
import pathlib
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))

import evaluate as evaluate_cli  # noqa: E402
import export as export_cli  # noqa: E402


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import keras

    from mdn_tf.models import build_pose_model

    keras.utils.set_random_seed(5)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_pose_model("small", "mdn", input_shape=(64, 64, 3)).save(path)
    return path


def _metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def test_keras_and_exported_saved_model_score_the_same(keras_file, tmp_path, capsys):
    assert evaluate_cli.main(["--model", str(keras_file), "--max-records", "12",
                              "--output-dir", str(tmp_path / "keras")]) == 0
    printed = capsys.readouterr().out
    assert "PCKh@0.5" in printed and "flip test on" in printed
    assert (tmp_path / "keras" / "pred_keypoints_mpii.mat").exists()
    keras_result = _metrics(tmp_path / "keras")["metrics"]

    saved = str(tmp_path / "saved")
    assert export_cli.main(["--model", str(keras_file), "--output", saved]) == 0
    assert evaluate_cli.main(["--model", saved, "--max-records", "12",
                              "--output-dir", str(tmp_path / "served")]) == 0
    metrics = _metrics(tmp_path / "served")
    assert metrics["flip_test"] == "exported" and metrics["people"] == 12
    # The served graph crops whole images itself; same crops, same keypoints.
    for key in ("Mean", "Head", "Wrist", "AUC"):
        assert metrics["metrics"][key] == pytest.approx(keras_result[key], abs=1e-6), key
    from mdn_tf.evaluation import read_mpii_predictions

    np.testing.assert_allclose(
        read_mpii_predictions(tmp_path / "served" / "pred_keypoints_mpii.mat"),
        read_mpii_predictions(tmp_path / "keras" / "pred_keypoints_mpii.mat"),
        atol=0.05,
    )


def test_coco_evaluation_writes_results_json(tmp_path):
    from mdn_tf.models import build_pose_model

    path = tmp_path / "coco.keras"
    build_pose_model("small", "mdn", num_joints=17, input_shape=(64, 48, 3)).save(path)
    assert evaluate_cli.main(["--dataset", "coco", "--model", str(path), "--no-flip",
                              "--max-records", "10", "--output-dir", str(tmp_path)]) == 0
    assert 0.0 <= _metrics(tmp_path)["metrics"]["AP"] <= 1.0
    results = json.loads((tmp_path / "keypoints_results.json").read_text())
    assert results and len(results[0]["keypoints"]) == 51


def test_a_compiled_and_saved_training_model_loads_after_importing_models(tmp_path):
    import subprocess

    script = (
        "import keras, mdn_tf.models as m, mdn_tf.losses as l\n"
        "model = m.build_pose_model('small', 'mdn', input_shape=(32, 32, 3))\n"
        "losses, weights = l.build_losses(model.output_names, 'mdn', 'noisy_or')\n"
        "model.compile(optimizer='adam', loss=losses, loss_weights=weights)\n"
        f"model.save({str(tmp_path / 'm.keras')!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300, cwd=REPO)
    # A fresh process that imports only mdn_tf.models, like the CLI tools.
    load = f"import keras, mdn_tf.models\nkeras.models.load_model({str(tmp_path / 'm.keras')!r})\n"
    subprocess.run([sys.executable, "-c", load], check=True, timeout=300, cwd=REPO)


def test_evaluating_on_coco_never_opens_the_training_annotations(tmp_path):
    # A COCO folder whose training annotation "file" cannot be read (a folder):
    # evaluation reads the validation split only (mdn_tf.data.datasets.load_split).
    from mdn_tf.data import sample_data
    from mdn_tf.data.datasets import LAYOUTS
    from mdn_tf.models import build_pose_model

    paths = sample_data.sample_data()
    root = tmp_path / "coco"
    train_annotations, _, _ = LAYOUTS["coco"]["train"]
    valid_annotations, valid_images, _ = LAYOUTS["coco"]["valid"]
    (root / train_annotations).mkdir(parents=True)  # open() of it raises IsADirectoryError
    (root / valid_annotations).symlink_to(paths.coco_val)
    (root / valid_images).symlink_to(paths.coco_val_images)
    model = tmp_path / "coco.keras"
    build_pose_model("small", "mdn", num_joints=17, input_shape=(64, 48, 3)).save(model)
    assert evaluate_cli.main(["--dataset", "coco", "--data-dir", str(root), "--model",
                              str(model), "--no-flip", "--max-records", "6",
                              "--output-dir", str(tmp_path / "out")]) == 0
    assert 0.0 <= _metrics(tmp_path / "out")["metrics"]["AP"] <= 1.0
