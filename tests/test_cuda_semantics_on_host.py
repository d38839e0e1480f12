"""The CUDA kernels' arithmetic, checked on the host (no GPU needed).

Two host programs beside the CUDA harness emulate what the kernels compute
with the same TF-free header, and compare with the CPU loops:

- `host_emulation.cc`: noisy-OR as fixed-point sums of log(1 - v) and integer
  zero-factor counts (the kernels' order-free accumulation);
- `host_max_ties.cc`: max mode on converged votes, where the gradient goes to
  votes tied to within an ulp; the kernels weigh taps with the CPU's
  `FillAxisWeights`, and the direct formula they used before disagreed (an
  H200 run found it; benchmarks/results/).
"""

import os
import pathlib
import shutil
import subprocess

import pytest

HARNESS = pathlib.Path(__file__).resolve().parents[1] / "custom_ops" / "mass_displacement"


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
@pytest.mark.parametrize("program", ["host_emulation.cc", "host_max_ties.cc"])
def test_kernel_arithmetic_matches_the_cpu_loops(program, tmp_path):
    binary = tmp_path / "check"
    subprocess.run(
        ["g++", "-O2", "-std=c++17", "-ffp-contract=off", "-pthread",
         "-I", str(HARNESS / "cc" / "kernels"), "-I", str(HARNESS / "cuda_harness"),
         str(HARNESS / "cuda_harness" / program), "-o", str(binary)],
        check=True, timeout=300, capture_output=True,
    )
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "FAIL" not in run.stdout
