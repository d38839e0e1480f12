"""Op determinism: which implementation runs, and when "custom_op" refuses.

The CUDA kernels scatter with atomics, so under
`tf.config.experimental.enable_op_determinism()` "auto" must take the
pure-TensorFlow path wherever the compiled op could run on a GPU, and
"custom_op" must raise. These tests run on CPU machines: the GPU is a
monkeypatched predicate. Every test that switches determinism on restores
the previous state, so the rest of the suite runs as before.
"""

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import mdn_tf.ops.mass_displacement as dispatch
from mdn_tf import mass_displacement
from mdn_tf.ops import custom_op, determinism
from voting_cases import random_inputs


@contextlib.contextmanager
def _op_determinism(enabled):
    """Sets op determinism for the block and restores the previous state.

    TensorFlow 2.21 exports only the setter; the getter and the disabling
    function live in `tensorflow.python.framework.config`.
    """
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    if enabled:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()
    try:
        yield
    finally:
        if before:
            tf.config.experimental.enable_op_determinism()
        else:
            tf_config.disable_op_determinism()


@pytest.fixture
def compiled_op_with(monkeypatch):
    """Pretends the compiled op loads, with or without CUDA kernels and a GPU."""

    def pretend(cuda_kernels, gpu):
        monkeypatch.setattr(custom_op, "is_available", lambda: True)
        monkeypatch.setattr(custom_op, "in_xla_context", lambda: False)
        monkeypatch.setattr(custom_op, "has_cuda_kernels", lambda: cuda_kernels)
        monkeypatch.setattr(dispatch, "_gpu_present", lambda: gpu)

    return pretend


def test_determinism_getter_follows_enable_and_disable():
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    with _op_determinism(True):
        assert determinism.op_determinism_enabled()
        with _op_determinism(False):
            assert not determinism.op_determinism_enabled()
        assert determinism.op_determinism_enabled()
    assert tf_config.is_op_determinism_enabled() == before


@pytest.mark.parametrize(
    "cuda_kernels, gpu, deterministic, expected",
    [
        # The only case that changes: CUDA kernels, a GPU, determinism on.
        (True, True, True, "tf"),
        (True, True, False, "custom_op"),
        # The CPU kernel is deterministic: no GPU, or no CUDA kernels.
        (True, False, True, "custom_op"),
        (False, False, True, "custom_op"),
        # A library without CUDA kernels on a GPU machine: pure TF, as before.
        (False, True, True, "tf"),
        (False, True, False, "tf"),
    ],
)
def test_auto_routes_to_pure_tf_only_where_the_gpu_kernel_could_run(
    compiled_op_with, cuda_kernels, gpu, deterministic, expected
):
    compiled_op_with(cuda_kernels, gpu)
    with _op_determinism(deterministic):
        chosen = dispatch._select_implementation("auto")
    assert chosen is {"tf": dispatch.vote_tf, "custom_op": custom_op.vote_custom_op}[expected]


def test_custom_op_raises_under_determinism_when_a_gpu_is_visible(compiled_op_with):
    compiled_op_with(cuda_kernels=True, gpu=True)
    heatmaps, offsets_x, offsets_y = random_inputs(seed=0)
    with _op_determinism(True):
        with pytest.raises(RuntimeError) as raised:
            mass_displacement(heatmaps, offsets_x, offsets_y, implementation="custom_op")
        # "tf" is always allowed and runs (here on the CPU).
        assert mass_displacement(heatmaps, offsets_x, offsets_y, implementation="tf").shape == (
            heatmaps.shape
        )
    message = str(raised.value)
    assert 'implementation="custom_op"' in message
    assert "enable_op_determinism" in message
    assert 'Expected implementation="auto" or "tf"' in message
    assert 'Received: implementation="custom_op"' in message


@pytest.mark.parametrize("cuda_kernels, gpu", [(True, False), (False, True), (False, False)])
def test_custom_op_allowed_under_determinism_where_only_the_cpu_kernel_can_run(
    compiled_op_with, cuda_kernels, gpu
):
    compiled_op_with(cuda_kernels, gpu)
    with _op_determinism(True):
        assert dispatch._select_implementation("custom_op") is custom_op.vote_custom_op


def test_custom_op_allowed_on_a_gpu_without_determinism(compiled_op_with):
    compiled_op_with(cuda_kernels=True, gpu=True)
    with _op_determinism(False):
        assert dispatch._select_implementation("custom_op") is custom_op.vote_custom_op


def test_cpu_kernel_gives_the_same_bits_under_determinism():
    if not custom_op.is_available():
        pytest.skip(f"compiled op unavailable: {custom_op.unavailable_reason()}")
    heatmaps, offsets_x, offsets_y = random_inputs(seed=3, batch=3, height=9, width=8)
    inputs = [tf.constant(a) for a in (heatmaps, offsets_x, offsets_y)]

    def forward_and_gradients():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            voted = mass_displacement(*inputs, combine="noisy_or", kernel="gaussian")
            loss = tf.reduce_sum(voted * voted)
        return [voted] + tape.gradient(loss, inputs)

    with _op_determinism(True):
        if dispatch._gpu_present() and custom_op.has_cuda_kernels():
            pytest.skip("a GPU is visible: auto takes the pure-TensorFlow path here")
        assert dispatch._select_implementation("auto") is custom_op.vote_custom_op
        first, second = forward_and_gradients(), forward_and_gradients()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_pure_tf_path_runs_under_determinism():
    # On a GPU, TensorFlow refuses ops without a deterministic kernel under op
    # determinism (UnimplementedError); here (CPU) this checks that the pure
    # path and its gradients build and run with determinism on. Which of its
    # ops are deterministic on a GPU is in docs/custom_op.md ("Determinism").
    heatmaps, offsets_x, offsets_y = random_inputs(seed=4)
    inputs = [tf.constant(a) for a in (heatmaps, offsets_x, offsets_y)]
    with _op_determinism(True):
        for combine in ("additive", "noisy_or", "max"):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                total = tf.reduce_sum(
                    mass_displacement(*inputs, combine=combine, implementation="tf")
                )
            gradients = tape.gradient(total, inputs)
            assert np.isfinite(total.numpy())
            assert all(np.all(np.isfinite(g.numpy())) for g in gradients)


def test_legacy_environment_variable_counts_as_determinism():
    # TF_DETERMINISTIC_OPS=1 is read by TensorFlow itself; run in a fresh
    # process so the variable is seen before TensorFlow caches the state.
    script = (
        "from mdn_tf.ops import determinism;"
        "print(determinism.op_determinism_enabled())"
    )
    env = dict(os.environ, TF_DETERMINISTIC_OPS="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "True"
