"""SavedModel export: the crop_and_resize-style signature, served where mdn_tf is absent."""

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
from mdn_tf.inference import crop_boxes, predict_keypoints, whole_image_box
from mdn_tf.models import build_pose_model
from mdn_tf.skeleton import MPII

# Sends all boxes in one request, then each box alone with its own unpadded
# photo, and writes both: the test compares them outside this process.
FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    saved, inputs, output = sys.argv[1:4]
    data = np.load(inputs)
    served = tf.saved_model.load(saved).signatures["serving_default"]
    together = served(images=tf.constant(data["images"]), boxes=tf.constant(data["boxes"]),
                      box_indices=tf.constant(data["box_indices"]))
    alone = [
        served(images=tf.constant(data[f"photo{index}"])[None],
               boxes=tf.constant(data["boxes"][k:k + 1]),
               box_indices=tf.zeros([1], tf.int32))
        for k, index in enumerate(data["box_indices"])
    ]
    assert not any(name.startswith("mdn_tf") for name in sys.modules), "mdn_tf was imported"
    np.savez(output, keypoints=together["keypoints"].numpy(), scores=together["scores"].numpy(),
             alone_keypoints=np.concatenate([a["keypoints"].numpy() for a in alone]),
             alone_scores=np.concatenate([a["scores"].numpy() for a in alone]))
    """
)


def _person_box(person):
    """The square MPII person box (side 200 * scale) around the annotated centre."""
    side = 200.0 * person["scale"]
    cx, cy = person["center"]
    return [cx - side / 2, cy - side / 2, side, side]


def _two_photos_and_boxes(real_data_dir_or_none):
    """Two photos of different sizes and four boxes: three people on the first."""
    if real_data_dir_or_none is None:
        rng = np.random.default_rng(0)
        photos = [rng.integers(0, 256, (200, 160, 3), dtype=np.uint8),
                  rng.integers(0, 256, (120, 180, 3), dtype=np.uint8)]
        first, second = [30.0, 20.0, 100.0, 160.0], [40.0, 10.0, 60.0, 100.0]
        other = [0.0, 60.0, 80.0, 120.0]
    else:
        folder = real_data_dir_or_none / "mpii"
        people = {p["image"]: p for p in json.loads((folder / "test_mpii.json").read_text())}
        photos = [tf.io.decode_jpeg(tf.io.read_file(str(folder / name))).numpy()
                  for name in ("004645041.jpg", "052475643.jpg")]  # 1280x720 and 854x480
        first, second = _person_box(people["004645041.jpg"]), _person_box(people["052475643.jpg"])
        other = [290.0, 70.0, 460.0, 650.0]  # the man on the left of 004645041.jpg
    whole = whole_image_box(*photos[0].shape[:2])
    # Box order interleaves the photos, so a wrong index would show.
    boxes = np.array([first, second, other, whole], "float32")
    return photos, boxes, np.array([0, 1, 0, 0], "int32")


def _pad_to_common_size(photos):
    """Zeros at the bottom and right: boxes stay in each photo's own pixels."""
    height = max(p.shape[0] for p in photos)
    width = max(p.shape[1] for p in photos)
    padded = np.zeros((len(photos), height, width, 3), np.uint8)
    for n, photo in enumerate(photos):
        padded[n, : photo.shape[0], : photo.shape[1]] = photo
    return padded


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(3)
    return build_pose_model("small", "mdn", input_shape=(64, 64, 3))


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return export_saved_model(model, tmp_path_factory.mktemp("export") / "saved",
                              skeleton="mpii")


def test_several_people_per_photo_served_in_a_fresh_process_equal_one_at_a_time(
        model, saved, tmp_path):
    real = os.environ.get("MDN_TF_REAL_DATA")  # random photos without it
    photos, boxes, box_indices = _two_photos_and_boxes(pathlib.Path(real) if real else None)
    images = _pad_to_common_size(photos)
    inputs, output = tmp_path / "inputs.npz", tmp_path / "output.npz"
    np.savez(inputs, images=images, boxes=boxes, box_indices=box_indices,
             photo0=photos[0], photo1=photos[1])
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, saved, str(inputs), str(output)],
        capture_output=True, text=True, timeout=300,
        cwd=tmp_path,  # not the repository: mdn_tf must not be importable by accident
    )
    assert run.returncode == 0, run.stderr[-3000:]
    served = np.load(output)

    assert served["keypoints"].shape == (4, 16, 2) and served["scores"].shape == (4, 16)
    # One request with padded photos gives the rows of four single-person requests.
    np.testing.assert_allclose(served["keypoints"], served["alone_keypoints"], atol=1e-3)
    np.testing.assert_allclose(served["scores"], served["alone_scores"], atol=1e-5)
    # And the rows are the Keras model's, box by box on the unpadded photos.
    for k, index in enumerate(box_indices):
        crops, inverse = crop_boxes(photos[index][None], boxes[k:k + 1], [0], (64, 64))
        keypoints, scores = predict_keypoints(model, crops, inverse, MPII.flip_permutation())
        np.testing.assert_allclose(served["keypoints"][k], keypoints.numpy()[0], atol=1e-3)
        np.testing.assert_allclose(served["scores"][k], scores.numpy()[0], atol=1e-5)


def test_serving_default_checks_box_indices_in_graph(saved):
    served = tf.saved_model.load(saved).signatures["serving_default"]
    images = tf.zeros([2, 40, 30, 3], tf.uint8)
    boxes = tf.constant([[0.0, 0.0, 20.0, 30.0]] * 2)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"box_indices must lie in \[0, N\), N = number of images; N =\] "
                             r"\[2\] \[Received: box_indices =\] \[0 2\]"):
        served(images=images, boxes=boxes, box_indices=tf.constant([0, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"box_indices must hold one image index per box"):
        served(images=images, boxes=boxes, box_indices=tf.constant([1]))
    for bad in ([0.0, 0.0, 0.0, 30.0], [float("nan"), 0.0, 20.0, 30.0]):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"boxes must be finite \(x, y, w, h\) with w > 0 and h > 0"):
            served(images=images, boxes=tf.constant([bad]), box_indices=tf.constant([0]))
    # A photo where the detector found nobody is a valid request.
    empty = served(images=images, boxes=tf.zeros([0, 4]), box_indices=tf.zeros([0], tf.int32))
    assert empty["keypoints"].shape == (0, 16, 2) and empty["scores"].shape == (0, 16)


def test_whole_image_signature_is_serving_default_with_the_whole_image_box(saved):
    loaded = tf.saved_model.load(saved)
    images = np.random.default_rng(1).integers(0, 256, (2, 90, 70, 3), dtype=np.uint8)
    whole = loaded.signatures["whole_image"](images=tf.constant(images))
    boxes = np.array([whole_image_box(90, 70)] * 2, "float32")
    served = loaded.signatures["serving_default"](
        images=tf.constant(images), boxes=tf.constant(boxes), box_indices=tf.constant([0, 1]))
    np.testing.assert_allclose(whole["keypoints"], served["keypoints"], atol=1e-4)


def test_saved_model_cli_lists_named_signatures(saved):
    shown = subprocess.run(
        ["saved_model_cli", "show", "--dir", saved, "--all"],
        capture_output=True, text=True, timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = shown.stdout
    assert "signature_def['serving_default']" in text
    assert "signature_def['whole_image']" in text
    for name in ("images", "boxes", "box_indices", "keypoints", "scores"):
        assert f"['{name}']" in text, name
    # Only stock ops: the compiled voting op never reaches the graph.
    graph = (pathlib.Path(saved) / "saved_model.pb").read_bytes()
    assert b"Mdn>" not in graph


def test_export_rejects_models_without_final_maps(tmp_path):
    inputs = tf.keras.Input((32, 32, 3))
    plain = tf.keras.Model(inputs, tf.keras.layers.Conv2D(16, 1)(inputs))
    with pytest.raises(ValueError, match=r'model must return a dict with a "final" output'):
        export_saved_model(plain, tmp_path / "saved")
