"""The `mdn-tf` command line: help, the cache folder, sample-data, train, visualize, errors.

Most checks call `mdn_tf.cli.main.main(argv)` in this process (what the
console script runs); one tiny COCO training (marked slow) runs as its own
process, as a user runs it. The MPII training scripts in training/ are run by
tests/test_training_scripts.py, whose uninterrupted run goes through
`mdn-tf train`; the quick ablation by tests/test_ablation.py.
"""

import json
import os
import subprocess
import sys

import pytest

from mdn_tf import cache
from mdn_tf.cli import _common
from mdn_tf.cli import main as cli
from mdn_tf.cli import sample_data as sample_data_cli

COMMANDS = ("train", "evaluate", "export", "predict", "visualize", "ablation", "sample-data",
            "check-data")
TINY_SAMPLE = ["--mpii-train", "2", "--mpii-valid", "2", "--coco-train", "1", "--coco-val", "1"]


def _help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_command_with_its_summary_and_the_backend_and_cache(capsys,
                                                                               monkeypatch):
    monkeypatch.setenv("MDN_TF_HOME", "/somewhere/mdn")
    text = _help(["--help"], capsys)
    for name in COMMANDS:
        module = cli.load_command(name)
        assert module is not None, f"mdn_tf/cli/{name.replace('-', '_')}.py is missing"
        assert name in text and _common.summary(module)[:30] in " ".join(text.split())
    assert "TensorFlow backend" in " ".join(text.split()) and "/somewhere/mdn" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_describes_itself_and_its_options(command, capsys):
    text = _help([command, "--help"], capsys)
    assert text.startswith(f"usage: mdn-tf {command}")
    summary = _common.summary(cli.load_command(command))
    assert summary and summary[:30] in " ".join(text.split())
    assert "--" in text.split("options:")[1]  # at least one option besides --help


def test_help_builds_without_importing_the_commands_heavy_modules():
    # Each command imports its training, evaluation or export code in run(), not at import:
    # `mdn-tf --help` must not build models or read data.
    script = ("import sys\nfrom mdn_tf.cli import main\n"
              "for name in main.COMMANDS:\n    main.load_command(name)\n"
              "main.build_parser(['--help']).format_help()\n"
              "heavy = sorted(m for m in ('mdn_tf.training.run', 'mdn_tf.models', "
              "'mdn_tf.export', 'mdn_tf.evaluation') if m in sys.modules)\n"
              "assert not heavy, heavy\nprint('ok')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, "-m", "mdn_tf.cli", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "sample-data" in proc.stdout, proc.stderr


def test_a_plain_import_registers_the_layer_for_keras_files(tmp_path):
    # `import mdn_tf` then keras.models.load_model must find MassDisplacement.
    script = ("import keras, numpy as np\nimport mdn_tf\n"
              "x = keras.Input((8, 8, 2))\n"
              "y = mdn_tf.MassDisplacement(combine='additive')(x, x, x)\n"
              f"keras.Model(x, y).save({str(tmp_path / 'm.keras')!r})\n")
    load = ("import keras\nimport mdn_tf\n"
            f"keras.models.load_model({str(tmp_path / 'm.keras')!r})\nprint('ok')\n")
    for code in (script, load):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")


def test_no_command_prints_the_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_cache_folder_follows_mdn_tf_home_then_keras_home_then_the_home_folder(
        monkeypatch, tmp_path):
    monkeypatch.delenv("MDN_TF_HOME", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    (tmp_path / "user").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache.cache_dir() == str(tmp_path / "user" / ".keras" / "mdn_tf")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert cache.cache_dir("sample") == str(tmp_path / "keras" / "mdn_tf" / "sample")
    monkeypatch.setenv("MDN_TF_HOME", str(tmp_path / "mine"))
    assert cache.cache_dir("sample") == str(tmp_path / "mine" / "sample")
    from mdn_tf.data import sample_data

    assert sample_data.default_root() == str(tmp_path / "mine" / "sample")


def test_cache_falls_back_to_the_temp_folder_when_the_default_cannot_be_written(
        monkeypatch, tmp_path):
    # As keras.utils.get_file does; root passes any os.access check, so it is patched.
    import tempfile

    monkeypatch.delenv("MDN_TF_HOME", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "read_only"))
    monkeypatch.setattr(cache.os, "access", lambda path, mode: False)
    assert cache.cache_dir() == os.path.join(tempfile.gettempdir(), ".keras", "mdn_tf")


def test_cache_is_never_inside_the_package_or_the_source_tree(monkeypatch):
    monkeypatch.delenv("MDN_TF_HOME", raising=False)
    package = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))
    assert not cache.cache_dir().startswith(os.path.dirname(package) + os.sep)


def test_sample_data_writes_under_the_cache_folder_and_prints_where(monkeypatch, tmp_path,
                                                                    capsys):
    monkeypatch.setenv("MDN_TF_HOME", str(tmp_path / "home"))
    assert cli.main(["sample-data", *TINY_SAMPLE]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "home" / "sample"
    manifest = json.loads((root / "manifest.json").read_text())
    assert (manifest["num_mpii_train"], manifest["num_coco_val"]) == (2, 1)
    assert "ready in" in out and str(root / "mpii" / "annot" / "train.json") in out
    # The same command again finds the data and rewrites nothing.
    before = os.path.getmtime(root / "mpii" / "annot" / "train.json")
    assert cli.main(["sample-data", *TINY_SAMPLE]) == 0
    assert os.path.getmtime(root / "mpii" / "annot" / "train.json") == before


def test_sample_data_defaults_are_those_of_the_library():
    import inspect

    from mdn_tf.data.sample_data import sample_data

    defaults = inspect.signature(sample_data).parameters
    for name, count in sample_data_cli.COUNTS.items():
        assert defaults[f"num_{name}"].default == count, name


def test_user_errors_are_one_line_naming_the_option_without_traceback(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert cli.main(["train", "--data-dir", str(missing)]) == 1
    assert cli.main(["train", "--epochs", "0"]) == 1
    assert cli.main(["train", "--dataset", "coco", "--max-valid-records", "3"]) == 1
    assert cli.main(["visualize", "--model", str(tmp_path / "m.keras")]) == 1
    assert cli.main(["sample-data", "--root", str(tmp_path / "s"), "--mpii-train", "0"]) == 1
    assert cli.main(["ablation", "--seeds", "0"]) == 1
    assert cli.main(["evaluate", "--model", str(tmp_path / "m.keras")]) == 1
    assert cli.main(["export", "--model", str(tmp_path / "m.keras"),
                     "--output", str(tmp_path / "out")]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [
        f"mdn-tf train: error: --data-dir must be an existing folder. "
        f"Received: --data-dir {missing}",
        "mdn-tf train: error: --epochs must be a positive integer. Received: 0",
        "mdn-tf train: error: --max-valid-records applies to --dataset mpii only. "
        "Received: --dataset coco",
        f"mdn-tf visualize: error: --model must be an existing file. "
        f"Received: --model {tmp_path / 'm.keras'}",
        "mdn-tf sample-data: error: --mpii-train must be a positive integer. "
        "Received: --mpii-train 0",
        "mdn-tf ablation: error: --seeds must be a positive integer. Received: --seeds 0",
        f"mdn-tf evaluate: error: --model must be an existing file or folder. "
        f"Received: --model {tmp_path / 'm.keras'}",
        f"mdn-tf export: error: --model must be an existing file. "
        f"Received: --model {tmp_path / 'm.keras'}",
    ]


def test_training_scripts_keep_their_own_options(capsys):
    from mdn_tf.cli import train

    for dataset, own, other in (("mpii", "--max-valid-records", "--detections"),
                                ("coco", "--detections", "--max-valid-records")):
        with pytest.raises(SystemExit):
            train.main(["--help"], dataset=dataset)
        text = capsys.readouterr().out
        assert text.startswith(f"usage: train_{dataset}.py") and own in text
        assert other not in text and "--dataset" not in text


@pytest.fixture(scope="module")
def coco_run(tmp_path_factory):
    """`mdn-tf train --dataset coco` on a tiny budget, as its own process (~40 s)."""
    from mdn_tf.data import sample_data

    sample_data.sample_data()  # generated here once, not by the child process
    output = tmp_path_factory.mktemp("coco_run")
    command = [sys.executable, "-m", "mdn_tf.cli", "train", "--dataset", "coco",
               "--max-train-records", "16", "--small-filters", "8", "--input-size", "64", "48",
               "--batch-size", "8", "--epochs", "1", "--eval-every", "0",
               "--no-untrained-eval", "--tensorboard-images", "0", "--verbose", "0",
               "--output-dir", str(output)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return output, proc.stdout


# Slow: a whole training process (~40 s on 2 cores); the MPII training runs on the
# default path (tests/test_bad_images.py), COCO's pipeline and evaluation too.
@pytest.mark.slow
def test_train_coco_runs_end_to_end_and_prints_the_ap_table(coco_run):
    output, printed = coco_run
    assert "coco: 16 training" in printed and "OKS AP (%)" in printed and "trained" in printed
    results = json.loads((output / "results.json").read_text())
    assert results["options"]["dataset"] == "coco" and 0.0 <= results["trained"]["AP"] <= 1.0
    assert (output / "model.keras").is_file()


@pytest.mark.parametrize("dataset,num_joints,input_shape",
                         [("mpii", 16, (64, 64, 3)), ("coco", 17, (64, 48, 3))])
def test_visualize_draws_predictions_and_mdn_panels(dataset, num_joints, input_shape, tmp_path,
                                                    capsys):
    # An untrained network draws the same figures, in seconds instead of a training run.
    from mdn_tf.models import build_pose_model

    model = tmp_path / "model.keras"
    build_pose_model("small", "mdn", num_joints=num_joints, input_shape=input_shape).save(model)
    assert cli.main(["visualize", "--dataset", dataset, "--model", str(model), "--num", "2",
                     "--output-dir", str(tmp_path / "figures")]) == 0
    assert "wrote" in capsys.readouterr().out
    for name in ("predictions.png", "mdn_panels.png"):
        figure = (tmp_path / "figures" / name).read_bytes()
        assert figure[:8] == b"\x89PNG\r\n\x1a\n" and len(figure) > 10_000, name
