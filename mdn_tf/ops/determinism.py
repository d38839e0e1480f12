"""Op determinism and the choice between the compiled op and pure TensorFlow.

`tf.config.experimental.enable_op_determinism()` (or `TF_DETERMINISTIC_OPS=1`)
promises that every op gives the same bits on every run. The compiled op
keeps that promise on the CPU only:

- its CPU kernel is deterministic: each unit of work (batch item x group of
  target maps) owns its outputs and adds its votes in a fixed (pixel, edge)
  order, whatever the thread count or grouping (docs/custom_op.md);
- its CUDA kernels scatter with `atomicAdd`, compare-and-swap products and
  integer `atomicMax`, so sums and noisy-OR products depend on the order in
  which threads land.

The pure-TensorFlow path (`voting_tf.py`) is deterministic on a GPU under op
determinism: `unsorted_segment_sum` switches to TensorFlow's sort-based
segment reduction, `unsorted_segment_max` is exact in any order, and the
other ops it uses (gather, elementwise ops, reductions for broadcast
gradients) have no order-dependent GPU kernel. docs/custom_op.md
("Determinism") gives the sources.

The rule, applied when the graph is built (eager call or `tf.function`
trace): with op determinism on, the compiled op *could run on a GPU* when the
loaded library has CUDA kernels and TensorFlow sees a GPU. `tf.device`
scopes are deliberately not trusted: the gradient op that a `GradientTape`
creates carries no device even when its forward op was pinned to the CPU,
and a `tf.function` traced under an outer scope does not record that scope,
so either may still be placed on the GPU. The kernels themselves refuse to
run on a GPU under op determinism (`Unimplemented`), which also covers graphs
built before determinism was switched on and graphs that bypass Python.
"""

import os

import tensorflow as tf


def op_determinism_enabled():
    """True when TensorFlow requires deterministic ops in this process.

    Reflects `tf.config.experimental.enable_op_determinism()` and the legacy
    `TF_DETERMINISTIC_OPS=1` environment variable.
    """
    public = getattr(tf.config.experimental, "is_op_determinism_enabled", None)
    if public is not None:  # exported by newer TensorFlow versions
        return bool(public())
    try:
        # TensorFlow 2.21 only exports the setter; the getter lives beside it
        # (tests/test_determinism.py pins its behaviour).
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        # Without the getter, only the environment variable is visible; it is
        # better to miss a programmatic switch than to fail every vote.
        return os.environ.get("TF_DETERMINISTIC_OPS", "").strip().lower() in ("1", "true")


def compiled_op_may_run_on_gpu(has_cuda_kernels, gpu_present):
    """True when the compiled op, or its gradient, could be placed on a GPU.

    Args:
        has_cuda_kernels: whether the loaded library registers GPU kernels.
        gpu_present: a callable that says whether TensorFlow sees a GPU;
            called only when the library has CUDA kernels.
    """
    return bool(has_cuda_kernels) and bool(gpu_present())


def compiled_op_nondeterministic(has_cuda_kernels, gpu_present):
    """True when op determinism is on and the compiled op could run on a GPU."""
    return op_determinism_enabled() and compiled_op_may_run_on_gpu(has_cuda_kernels, gpu_present)


def check_custom_op_deterministic(has_cuda_kernels, gpu_present):
    """Raises when `implementation="custom_op"` would break op determinism.

    Raises:
        RuntimeError: op determinism is enabled and the compiled op could run
            its CUDA kernels (the message says what to do instead).
    """
    if not compiled_op_nondeterministic(has_cuda_kernels, gpu_present):
        return
    raise RuntimeError(
        'implementation="custom_op" cannot run deterministically here: op determinism is '
        "enabled (tf.config.experimental.enable_op_determinism() or TF_DETERMINISTIC_OPS=1) "
        "and TensorFlow sees a GPU, where the compiled op's CUDA kernels accumulate votes "
        "with atomics whose order changes from run to run. Expected implementation=\"auto\" "
        'or "tf" under op determinism (stock TensorFlow ops with deterministic GPU kernels); '
        "the compiled CPU kernel is deterministic, so hiding the GPUs "
        '(tf.config.set_visible_devices([], "GPU")) or a CPU-only build '
        "(MDN_TF_BUILD_CUDA=0) also works. Received: implementation=\"custom_op\" with "
        "op determinism enabled and a GPU visible."
    )
