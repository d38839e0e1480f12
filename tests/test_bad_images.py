"""Images that fail to decode: the pipeline's error and skip modes, and `--on-bad-image` in training.

The pipeline tests run in process on a small sample; the training tests run
the script as a user does (two tiny runs, started together to share the
wait), on a copy of the sample's MPII folder with one truncated JPEG.
"""

import io
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.data import build_dataset, mpii
from mdn_tf.data.bad_images import BadImageLog
from mdn_tf.data.sample_data import sample_data

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return sample_data(tmp_path_factory.mktemp("sample"), num_mpii_train=8, num_mpii_valid=2,
                       num_coco_train=2, num_coco_val=2)


@pytest.fixture
def records_with_bad_image(sample, tmp_path):
    """The 8 training people; person 2's image cut short (a copy, the sample stays intact)."""
    records = mpii.load_annotations(sample.mpii_train)
    bad = tmp_path / "cut_short.jpg"
    bad.write_bytes(pathlib.Path(records[2].image).read_bytes()[:-400])
    records[2].image = str(bad)
    return records


def _indices(dataset):
    return [int(i) for _, _, meta in dataset for i in meta["index"].numpy()]


def test_error_mode_names_the_file_record_and_reason(records_with_bad_image):
    dataset = build_dataset(records_with_bad_image, "mpii", batch_size=4, input_size=(64, 64))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"bad image .*cut_short\.jpg \(.*train\.json\[2\]\): truncated JPEG"):
        list(dataset)


def test_skip_mode_leaves_the_example_out_and_announces_the_file_once(records_with_bad_image):
    stream = io.StringIO()
    log = BadImageLog(stream=stream)
    dataset = build_dataset(records_with_bad_image, "mpii", batch_size=3, input_size=(64, 64),
                            with_meta=True, on_bad_image="skip", bad_image_log=log)
    for _ in range(2):  # two epochs through one log
        assert _indices(dataset) == [0, 1, 3, 4, 5, 6, 7]
    assert log.counts() == (1, 2)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "cut_short.jpg" in lines[0] and "train.json[2]" in lines[0]
    assert lines[0].startswith("skipping bad image ")


def test_skipping_changes_no_other_example(sample, records_with_bad_image):
    def crops(records, **options):
        dataset = build_dataset(records, "mpii", is_training=True, batch_size=1, seed=4,
                                input_size=(64, 64), shuffle_buffer=1, **options)
        return [image.numpy() for image, _ in dataset]

    skipped = crops(records_with_bad_image, on_bad_image="skip",
                    bad_image_log=BadImageLog(announce=False))
    reference = crops(mpii.load_annotations(sample.mpii_train))
    # Each example keeps its own augmentation seed: only the bad one is missing.
    assert len(skipped) == 7
    for mine, theirs in zip(skipped, reference[:2] + reference[3:]):
        np.testing.assert_array_equal(mine, theirs)


def test_skip_mode_gives_up_when_every_image_is_bad(records_with_bad_image):
    records = [records_with_bad_image[2]] * 3
    log = BadImageLog(announce=False, total_files=1)
    dataset = build_dataset(records, "mpii", is_training=True, batch_size=2, repeat=True,
                            input_size=(64, 64), on_bad_image="skip", bad_image_log=log)
    with pytest.raises(tf.errors.InvalidArgumentError, match="every one of the 1 image files"):
        next(iter(dataset))


def test_missing_file_is_skipped_not_raised_at_build_time(sample, tmp_path):
    records = mpii.load_annotations(sample.mpii_train)[:4]
    records[1].image = str(tmp_path / "gone.jpg")
    log = BadImageLog(announce=False)
    dataset = build_dataset(records, "mpii", batch_size=4, input_size=(64, 64), with_meta=True,
                            on_bad_image="skip", bad_image_log=log)
    assert _indices(dataset) == [0, 2, 3]
    assert "gone.jpg" in log.first and log.first.endswith("file not found")


def test_on_bad_image_must_be_error_or_skip(sample):
    records = mpii.load_annotations(sample.mpii_train)[:2]
    with pytest.raises(ValueError, match="on_bad_image must be one of \\('error', 'skip'\\). "
                                         "Received: on_bad_image='ignore'"):
        build_dataset(records, "mpii", on_bad_image="ignore")


# -- training (subprocesses) ---------------------------------------------------------------
TINY = ["--backbone", "small", "--weights", "none", "--small-filters", "4",
        "--input-size", "32", "32", "--batch-size", "2", "--epochs", "1",
        "--eval-every", "100", "--no-untrained-eval", "--tensorboard-images", "0",
        "--verbose", "0", "--optimizer", "adam"]


@pytest.fixture
def data_dir_with_bad_image(sample, tmp_path):
    """The sample's MPII folder (real layout: images/, annot/) with one truncated JPEG."""
    root = pathlib.Path(shutil.copytree(pathlib.Path(sample.root) / "mpii", tmp_path / "mpii"))
    name = json.loads((root / "annot" / "train.json").read_text())[1]["image"]
    image = root / "images" / name
    image.write_bytes(image.read_bytes()[:-400])
    return root, image


def _train(data_dir, output_dir, *extra):
    command = [sys.executable, str(REPO / "training" / "train_mpii.py"), *TINY,
               "--data-dir", str(data_dir), "--output-dir", str(output_dir), *extra]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command, cwd=REPO, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_training_skips_or_stops_on_a_bad_jpeg(data_dir_with_bad_image, tmp_path):
    data_dir, image = data_dir_with_bad_image
    skip = _train(data_dir, tmp_path / "skip", "--on-bad-image", "skip")
    error = _train(data_dir, tmp_path / "error")  # the default
    out, err = skip.communicate(timeout=240)
    assert skip.returncode == 0, out[-2000:] + err[-3000:]
    assert err.count(f"skipping bad image {image}") == 1, err[-3000:]
    assert "epoch 1: " in out and "skipped so far, from 1 bad image file" in out
    assert (tmp_path / "skip" / "model.keras").exists()

    out, err = error.communicate(timeout=240)
    assert error.returncode == 1, out[-2000:] + err[-3000:]
    # TensorFlow's own start-up lines may come first; the error is one line, and last.
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == (
        f"train_mpii.py: error: bad image {image} ({data_dir}/annot/train.json[1]): "
        f"truncated JPEG: the file ({image.stat().st_size} bytes) ends before the end-of-image "
        "marker; `mdn-tf check-data` lists every bad file (--on-bad-image skip leaves bad "
        "training images out)"), err[-3000:]
    assert sum(": error:" in line for line in lines) == 1 and "Traceback" not in out + err
    assert not (tmp_path / "error" / "checkpoints").exists()
