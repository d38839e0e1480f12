"""`mdn-tf predict`: photos in, a PNG and a JSON per photo out, as evaluation predicts."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.cli import predict as predict_cli
from mdn_tf.inference import whole_image_box
from mdn_tf.inference.pose_json import read_pose_json
from mdn_tf.skeleton import MPII


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    from mdn_tf.models import build_pose_model

    tf.keras.utils.set_random_seed(7)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_pose_model("small", "mdn", input_shape=(64, 64, 3)).save(path)
    return path


def _write(path, image):
    """Saves a uint8 image in the format its extension names."""
    from PIL import Image

    Image.fromarray(image).save(path)
    return str(path)


def test_predict_gives_evaluate_keypoints_on_real_photos_for_keras_and_saved_model(
        keras_file, real_data_dir, tmp_path):
    import keras

    from mdn_tf.data.mpii import load_annotations
    from mdn_tf.evaluation import predict_records
    from mdn_tf.evaluation.evaluate_model import person_boxes
    from mdn_tf.export import export_saved_model

    records = load_annotations(real_data_dir / "mpii" / "test_mpii.json")[:3]
    model = keras.models.load_model(keras_file)
    expected, expected_scores = predict_records(model, records, "mpii", verbose=False)
    # The boxes whose padded crops are evaluation's crops, one photo each.
    boxes = {r.image: [box.tolist()] for r, box in zip(records, person_boxes(records))}
    boxes_json = tmp_path / "boxes.json"
    boxes_json.write_text(json.dumps(boxes))
    saved = export_saved_model(model, tmp_path / "saved", skeleton="mpii")

    for name, model_path in (("keras", keras_file), ("saved", saved)):
        out = tmp_path / name
        assert predict_cli.main(["--model", str(model_path), *boxes, "--boxes-json",
                                 str(boxes_json), "--output-dir", str(out)]) == 0
        for record, keypoints, scores in zip(records, expected, expected_scores):
            stem = out / (record.image.rsplit("/", 1)[-1][:-4] + "_pose")
            result = read_pose_json(f"{stem}.json")
            (person,) = result["people"]
            np.testing.assert_allclose(person["keypoints"], keypoints, atol=2e-3, err_msg=name)
            np.testing.assert_allclose(person["scores"], scores, atol=2e-5, err_msg=name)
            photo = tf.io.decode_jpeg(tf.io.read_file(record.image)).numpy()
            png = tf.io.decode_png(tf.io.read_file(f"{stem}.png")).numpy()
            assert png.shape[:2] == (result["height"], result["width"]) == photo.shape[:2]


def test_predict_writes_readable_json_and_png_for_every_format(keras_file, tmp_path, capsys):
    rng = np.random.default_rng(0)
    photo = (rng.uniform(size=(150, 120, 3)) * 60 + 90).astype(np.uint8)  # dull grey noise
    images = [_write(tmp_path / "a.jpg", photo), _write(tmp_path / "b.png", photo[:100]),
              _write(tmp_path / "c.bmp", photo), _write(tmp_path / "d.gif", photo),
              _write(tmp_path / "sub_a.jpg", photo)]
    (tmp_path / "sub").mkdir()
    images.append(_write(tmp_path / "sub" / "a.jpg", photo))  # same file name as a.jpg
    out = tmp_path / "out"
    assert predict_cli.main(["--model", str(keras_file), *images, "--box", "10,20,60,90",
                             "--box=-5,0,50,80", "--output-dir", str(out), "--no-flip"]) == 0
    printed = capsys.readouterr().out
    assert "6 image(s), 12 people" in printed
    # sub/a.jpg shares a.jpg's name: numbered, not overwritten.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in ("a_pose", "b_pose", "c_pose", "d_pose", "sub_a_pose",
                                     "a_pose2") for ext in ("json", "png"))

    result = read_pose_json(out / "b_pose.json")
    assert (result["width"], result["height"], result["skeleton"]) == (120, 100, "mpii")
    assert result["joint_names"] == list(MPII.joint_names)
    assert [p["box"] for p in result["people"]] == [[10, 20, 60, 90], [-5, 0, 50, 80]]
    for person in result["people"]:
        assert person["keypoints"].shape == (16, 2) and person["scores"].shape == (16,)
        assert person["whole_image"] is False
    text = (out / "b_pose.json").read_text()
    assert '"scores": [' in text and text.count("\n") > 40  # one keypoint a line, not one blob

    png = tf.io.decode_png(tf.io.read_file(str(out / "c_pose.png"))).numpy()[..., :3]
    assert png.shape == (150, 120, 3)
    # Limbs are drawn in saturated colours the grey photo does not have.
    red = (png[..., 0] > 200) & (png[..., 1] < 80) & (png[..., 2] < 80)
    blue_or_green = ((png[..., 2] > 200) | (png[..., 1] > 200)) & (png[..., 0] < 80)
    yellow = (png[..., 0] > 200) & (png[..., 1] > 200) & (png[..., 2] < 80)
    assert red.sum() > 10 and blue_or_green.sum() > 10 and yellow.sum() > 10


def test_predict_without_boxes_uses_the_whole_image(keras_file, tmp_path):
    image = _write(tmp_path / "p.png", np.full((90, 70, 3), 128, np.uint8))
    assert predict_cli.main(["--model", str(keras_file), image,
                             "--output-dir", str(tmp_path)]) == 0
    (person,) = read_pose_json(tmp_path / "p_pose.json")["people"]
    assert person["whole_image"] is True
    np.testing.assert_allclose(person["box"], whole_image_box(90, 70), atol=1e-3)


@pytest.mark.parametrize("arguments, message", [
    (["IMG", "--box", "1,2,3"], r"argument --box: expected x,y,w,h .* Received: '1,2,3'"),
    (["IMG", "--box", "1,2,0,4"], r"argument --box: expected x,y,w,h"),
    (["IMG", "--box", "500,2,10,10"],
     r"box 500,2,10,10 lies outside image .*p.png \(70x90 pixels\)"),
    (["IMG", "MISSING"], r"IMAGE must be an existing file. Received: .*missing.jpg"),
    (["IMG", "BAD"], r"cannot read image .*bad.jpg: Unknown image file format"),
    (["IMG", "--boxes-json", "JSON"], r"--boxes-json .* has no entry for image .*p.png"),
    (["IMG", "--boxes-json", "JSON", "--box", "1,1,5,5"], r"either --box .* or --boxes-json"),
])
def test_predict_user_errors_are_one_line_naming_the_argument(
        keras_file, tmp_path, capsys, arguments, message):
    image = _write(tmp_path / "p.png", np.full((90, 70, 3), 128, np.uint8))
    (tmp_path / "bad.jpg").write_text("not an image")
    (tmp_path / "boxes.json").write_text(json.dumps({"other.png": [[0, 0, 10, 10]]}))
    replace = {"IMG": image, "MISSING": str(tmp_path / "missing.jpg"),
               "BAD": str(tmp_path / "bad.jpg"), "JSON": str(tmp_path / "boxes.json")}
    argv = ["--model", str(keras_file), "--output-dir", str(tmp_path / "out")]
    argv += [replace.get(a, a) for a in arguments]
    try:
        status = predict_cli.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    assert status in (1, 2)
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert any(line.startswith("mdn-tf predict: error: ") for line in error.splitlines())
    assert re.search(message, error), error


def test_predict_asks_to_re_export_a_saved_model_without_box_indices(tmp_path, capsys):
    # The layout of earlier exports: one image row per person, no box_indices.
    old = tf.Module()
    old.serve = tf.function(
        lambda images, boxes: {"keypoints": tf.zeros([tf.shape(boxes)[0], 16, 2]),
                               "scores": tf.zeros([tf.shape(boxes)[0], 16])},
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
                         tf.TensorSpec([None, 4], tf.float32, name="boxes")])
    tf.saved_model.save(old, str(tmp_path / "old"), signatures=old.serve.get_concrete_function())
    image = _write(tmp_path / "p.png", np.full((90, 70, 3), 128, np.uint8))
    assert predict_cli.main(["--model", str(tmp_path / "old"), image]) == 1
    assert re.search(r"serving_default signature taking images, boxes and box_indices .* "
                     r"Received inputs: \['boxes', 'images'\]; re-export", capsys.readouterr().err)
