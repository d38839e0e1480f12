"""The documented build commands produce a working library; the CUDA harness
runs where a GPU exists.

Building takes tens of seconds on two cores, so these run only when
MDN_TF_TEST_BUILDS=1 (CI sets it); the harness test needs nvcc and a GPU.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
builds = pytest.mark.skipif(os.environ.get("MDN_TF_TEST_BUILDS") != "1",
                            reason="set MDN_TF_TEST_BUILDS=1 to run the build commands")

# Loads the library named by MDN_TF_CUSTOM_OP_LIB and checks one vote.
_SMOKE = """
import numpy as np
from mdn_tf import mass_displacement
from mdn_tf.ops import custom_op
assert custom_op.is_available(), custom_op.unavailable_reason()
heat = np.zeros((1, 3, 4, 1), "float32"); heat[0, 1, 1, 0] = 1.0
off = np.zeros((1, 3, 4, 1), "float32"); off[0, 1, 1, 0] = 0.5
m = mass_displacement(heat, off, off, combine="additive", implementation="custom_op").numpy()
assert np.allclose(m[0, 1:3, 1:3, 0], 0.25), m[..., 0]
print("ok")
"""


def _load_and_vote(library):
    env = dict(os.environ, MDN_TF_CUSTOM_OP_LIB=str(library), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(ROOT))
    env.pop("MDN_TF_PURE_TF", None)
    proc = subprocess.run([sys.executable, "-c", _SMOKE], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def _run(command, **env):
    proc = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


@builds
def test_make_builds_a_loadable_library(tmp_path):
    library = tmp_path / "_mass_displacement_ops.so"
    _run(["make", "-C", "custom_ops", f"LIB={library}"], MDN_TF_BUILD_CUDA="0")
    _load_and_vote(library)


@builds
def test_build_op_script_builds_a_loadable_library(tmp_path):
    library = tmp_path / "_mass_displacement_ops.so"
    _run([sys.executable, "custom_ops/build_op.py", "--cuda", "off", "--output", str(library)])
    _load_and_vote(library)


@builds
@pytest.mark.skipif(shutil.which("bazel") is None, reason="bazel is not installed")
def test_bazel_builds_a_loadable_library_offline():
    _run(["bash", "custom_ops/bazel/build.sh", "--no-install"])
    _load_and_vote(ROOT / "bazel-bin" / "_mass_displacement_ops.so")


def _has_gpu():
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _has_gpu(), reason="no CUDA GPU on this machine")
def test_cuda_harness_matches_the_cpu_kernels_on_a_gpu():
    nvcc = os.environ.get("NVCC") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.path.exists(nvcc):
        pytest.skip("nvcc not found")
    _run(["make", "-C", "custom_ops", "harness", f"NVCC={nvcc}"])
    proc = subprocess.run([str(ROOT / "custom_ops" / "build" / "mdn_cuda_harness")],
                          capture_output=True, text=True, timeout=600)
    print(proc.stdout)
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
