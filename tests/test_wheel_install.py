"""A regular (non-editable) `pip install .` into a fresh virtual environment works.

The project is copied out of the source tree, built as a wheel (the op
compiled against the installed TensorFlow) and installed into a new venv
that sees the system's packages (`--system-site-packages`: TensorFlow is not
downloaded again; `--no-deps --no-build-isolation --no-index`: nothing is).
Then, as a new user would: the op loads, `mdn-tf --help` works,
`mdn-tf sample-data` writes under the cache folder ($MDN_TF_HOME, else
~/.keras/mdn_tf), and nothing is written inside site-packages.

The system may hold mdn_tf too (an editable install of this checkout), so
every check first proves that the venv's copy is the one imported.

About 2 minutes on 2 cores (the op compiles once), so it runs when
MDN_TF_TEST_BUILDS=1 (CI sets it), with the build tests.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("MDN_TF_TEST_BUILDS") != "1",
                       reason="set MDN_TF_TEST_BUILDS=1 to build and install the wheel"),
]
# What `pip install .` needs from a checkout; build outputs and caches are left behind.
PROJECT = ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "mdn_tf", "custom_ops")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.o", "build", "*.egg-info")
TINY_SAMPLE = ["--mpii-train", "2", "--mpii-valid", "2", "--coco-train", "1", "--coco-val", "1"]

# Loads the installed op and checks one vote; prints where mdn_tf was imported from.
_OP_CHECK = """
import numpy as np
import mdn_tf
from mdn_tf import mass_displacement
from mdn_tf.ops import custom_op
print(mdn_tf.__file__)
assert custom_op.is_available(), custom_op.unavailable_reason()
heat = np.zeros((1, 3, 4, 1), "float32"); heat[0, 1, 1, 0] = 1.0
off = np.zeros((1, 3, 4, 1), "float32"); off[0, 1, 1, 0] = 0.5
m = mass_displacement(heat, off, off, combine="additive", implementation="custom_op").numpy()
assert np.allclose(m[0, 1:3, 1:3, 0], 0.25), m[..., 0]
"""


class Venv:
    """A virtual environment and the clean environment variables its commands run with."""

    def __init__(self, root, work):
        self.root, self.work = root, work
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "MDN_TF_HOME", "KERAS_HOME", "MDN_TF_PURE_TF",
                            "MDN_TF_CUSTOM_OP_LIB", "PYTHONDONTWRITEBYTECODE")}
        env.update(TF_CPP_MIN_LOG_LEVEL="3", VIRTUAL_ENV=str(self.root),
                   PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}")
        env.update(extra)
        return env

    def run(self, *command, timeout=600, **extra):
        # cwd outside the checkout, so `import mdn_tf` cannot pick up the source tree.
        proc = subprocess.run([str(c) for c in command], cwd=self.work, env=self.env(**extra),
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return proc.stdout

    def site_packages(self):
        return pathlib.Path(self.run(self.python, "-c",
                                     "import sysconfig; print(sysconfig.get_path('purelib'))")
                            .strip())


def _files(folder):
    # .pyc files are left out: pip precompiles at install time, and a byte-code
    # cache is not data written by mdn_tf.
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.suffix != ".pyc")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in PROJECT:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=IGNORED)
        else:
            shutil.copy2(path, source / name)
    (base / "work").mkdir()
    env = Venv(base / "venv", base / "work")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(env.root)],
                   check=True, timeout=300)
    env.run(env.python, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
            "--no-index", str(source), MDN_TF_BUILD_OP="1", MDN_TF_BUILD_CUDA="0")
    env.source = source
    return env


def test_wheel_install_runs_the_op_and_the_command_and_writes_only_to_the_cache(venv, tmp_path):
    site = venv.site_packages()
    assert site.is_relative_to(venv.root) and site != pathlib.Path(sysconfig.get_path("purelib"))
    before = _files(site)
    assert "mdn_tf/ops/_mass_displacement_ops.so" in before  # compiled into the wheel

    imported = pathlib.Path(venv.run(venv.python, "-c", _OP_CHECK).strip().splitlines()[-1])
    assert imported.is_relative_to(site), f"mdn_tf imported from {imported}, not from {site}"

    help_text = venv.run(venv.bin / "mdn-tf", "--help")
    for command in ("train", "sample-data", "visualize", "ablation"):
        assert command in help_text

    home = tmp_path / "mdn_home"
    out = venv.run(venv.bin / "mdn-tf", "sample-data", *TINY_SAMPLE, MDN_TF_HOME=str(home))
    assert (home / "sample" / "manifest.json").is_file(), out
    assert str(home / "sample") in out
    # The default: ~/.keras/mdn_tf, as Keras finds its home.
    user = tmp_path / "user"
    user.mkdir()
    venv.run(venv.bin / "mdn-tf", "sample-data", *TINY_SAMPLE, HOME=str(user))
    assert (user / ".keras" / "mdn_tf" / "sample" / "manifest.json").is_file()
    keras_home = tmp_path / "keras_home"
    out = venv.run(venv.python, "-c", "from mdn_tf import cache; print(cache.cache_dir())",
                   KERAS_HOME=str(keras_home))
    assert out.strip() == str(keras_home / "mdn_tf")

    assert _files(site) == before, "files were written inside site-packages"
    assert not (venv.source / "data_cache").exists() and not (venv.work / "data_cache").exists()


def test_editable_install_without_building_the_op_succeeds(venv):
    # MDN_TF_BUILD_OP=0 used to fail: "can't copy '.../_mass_displacement_ops.so': doesn't exist".
    venv.run(venv.python, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
             "--no-index", "-e", str(venv.source), MDN_TF_BUILD_OP="0")
    out = venv.run(venv.python, "-c", "import mdn_tf; from mdn_tf.ops import custom_op; "
                   "print(custom_op.is_available()); print(mdn_tf.__file__)")
    available, imported = out.strip().splitlines()[-2:]
    assert pathlib.Path(imported).is_relative_to(venv.source) and available == "False"
    assert not list((venv.source / "mdn_tf" / "ops").glob("*.so"))
