"""`mdn-tf check-data`: every image decoded, every record validated, problems named.

Runs on a small copy of the built-in sample (generated once per module), in
process: the command's `main` returns its exit status.
"""

import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.cli import check_data
from mdn_tf.data import dataset_check, image_files
from mdn_tf.data.sample_data import sample_data


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return sample_data(tmp_path_factory.mktemp("sample"), num_mpii_train=6, num_mpii_valid=2,
                       num_coco_train=2, num_coco_val=2)


@pytest.fixture
def mpii_dir(sample, tmp_path):
    """A copy of the sample's MPII folder in the real layout (images/, annot/)."""
    return pathlib.Path(shutil.copytree(pathlib.Path(sample.root) / "mpii", tmp_path / "mpii"))


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return data


def _run(capsys, *argv):
    status = check_data.main(list(argv))
    return status, capsys.readouterr().out


def test_clean_folder_passes_with_status_0(mpii_dir, capsys):
    status, out = _run(capsys, "--data-dir", str(mpii_dir), "--workers", "2")
    assert status == 0, out
    assert "checked 8 records and 8 images" in out and "no problems" in out


def test_truncated_jpeg_and_malformed_record_are_named_and_counted(mpii_dir, capsys, tmp_path):
    people = _edit_json(mpii_dir / "annot" / "train.json",
                        lambda d: d[3].__setitem__("joints", d[3]["joints"][:14]))
    image = mpii_dir / "images" / people[1]["image"]
    image.write_bytes(image.read_bytes()[:-300])
    report = tmp_path / "report.json"
    status, out = _run(capsys, "--data-dir", str(mpii_dir), "--json", str(report))
    assert status == 1
    lines = [line.strip() for line in out.splitlines()]
    assert any(line.startswith(f"{mpii_dir}/annot/train.json[3]: malformed_record: joints must "
                               "list 16 joints. Received: 14") for line in lines), out
    assert any(line.startswith(f"{image} ({mpii_dir}/annot/train.json[1]): truncated_jpeg: ")
               for line in lines), out
    assert "2 problems" in out and "checked 8 records" in out
    counts = json.loads(report.read_text())["counts"]
    assert counts == {"malformed_record": 1, "truncated_jpeg": 1}


def test_record_checks_that_the_reader_lets_through(mpii_dir, capsys):
    def edit(people):
        people[0]["joints_vis"][2] = 2  # flags are 0 or 1
        people[2]["center"] = [-400.0, 50.0]  # objpos outside the 320 x 240 image
        people[4]["joints"][5], people[4]["joints_vis"][5] = [900.0, 10.0], 1

    _edit_json(mpii_dir / "annot" / "train.json", edit)
    (mpii_dir / "images" / "000000005.jpg").unlink()
    status, out = _run(capsys, "--data-dir", str(mpii_dir), "--split", "train")
    assert status == 1
    assert "train.json[0]: bad_visibility: joints_vis must be one of [0, 1]. Received: [2.0]" in out
    assert "train.json[2]): centre_outside_image: crop centre (-401.0, 49.0)" in out
    assert "train.json[4]): joint_outside_image: joint 5 at (899.0, 9.0)" in out
    assert "000000005.jpg" in out and "missing_file: file not found" in out
    assert "valid.json" not in out  # --split train


def test_mpii_head_boxes_must_match_the_validation_rows(mpii_dir, capsys):
    _edit_json(mpii_dir / "annot" / "valid.json", lambda d: d.append(d[0]))
    status, out = _run(capsys, "--data-dir", str(mpii_dir), "--split", "valid")
    assert status == 1
    assert "bad_head_box: 2 head boxes for the 3 people" in out


def test_coco_references_and_flags_are_checked(sample, tmp_path, capsys):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    shutil.copytree(sample.coco_train_images, root / "train2017")
    shutil.copytree(sample.coco_val_images, root / "val2017")
    shutil.copy(sample.coco_val, root / "annotations" / "person_keypoints_val2017.json")

    def edit(data):
        first, second = data["annotations"][:2]
        first["keypoints"][2] = 3  # v is 0, 1 or 2
        second["num_keypoints"] = 0
        data["annotations"].append({**second, "id": 999, "image_id": 12345})

    train = root / "annotations" / "person_keypoints_train2017.json"
    shutil.copy(sample.coco_train, train)
    data = _edit_json(train, edit)
    status, out = _run(capsys, "--dataset", "coco", "--data-dir", str(root))
    assert status == 1
    first_id, second_id = data["annotations"][0]["id"], data["annotations"][1]["id"]
    assert f"[annotation id {first_id}]: bad_visibility: v must be one of [0, 1, 2]" in out
    assert f"[annotation id {second_id}]: bad_reference: num_keypoints is 0 but" in out
    assert "[annotation id 999]: bad_reference: image_id 12345 is not among the file's images" in out


def test_report_order_does_not_depend_on_the_number_of_threads(mpii_dir):
    for name in ("000000000.jpg", "000000003.jpg", "100000001.jpg"):
        path = mpii_dir / "images" / name
        path.write_bytes(path.read_bytes()[:1000])
    splits = check_data.splits("mpii", str(mpii_dir))
    one = dataset_check.check("mpii", splits, workers=1).problems
    four = dataset_check.check("mpii", splits, workers=4).problems
    assert [p.line() for p in one] == [p.line() for p in four]
    assert [pathlib.Path(p.file).name for p in one] == ["000000000.jpg", "000000003.jpg",
                                                        "100000001.jpg"]


def test_decoder_rejects_any_truncation_but_not_a_cut_file_with_its_end_marker(sample):
    """What the check relies on, measured: tf.io.decode_jpeg fails on a cut file."""
    data = min(pathlib.Path(sample.mpii_images).iterdir()).read_bytes()
    for cut in (2, 300, len(data) // 2):
        with pytest.raises(tf.errors.InvalidArgumentError):
            image_files.decode_image(data[:-cut])
        problem, _ = image_files.diagnose_bytes(data[:-cut])
        assert problem[0] == image_files.TRUNCATED
    # With the end-of-image marker glued back on, libjpeg only warns: training
    # and the check both accept it (documented in image_files).
    patched = image_files.decode_image(data[: len(data) // 2] + b"\xff\xd9")
    assert patched.shape[-1] == 3
    assert image_files.diagnose_bytes(b"")[0][0] == image_files.EMPTY
    assert image_files.diagnose_bytes(b"GIF? no")[0][0] == image_files.NOT_AN_IMAGE
    png = tf.io.encode_png(np.zeros((4, 5, 3), np.uint8)).numpy()
    assert image_files.diagnose_bytes(png) == (None, (4, 5))  # what training accepts


def test_check_data_is_an_mdn_tf_command(mpii_dir, capsys):
    from mdn_tf.cli.main import main

    assert main(["check-data", "--data-dir", str(mpii_dir), "--split", "valid"]) == 0
    assert main(["check-data", "--data-dir", str(mpii_dir / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "--data-dir must be an existing folder. Received: --data-dir" in err
    assert "Traceback" not in err
