"""The compiled MassDisplacement op: lazy loader, Python wrapper, gradient.

The shared library `_mass_displacement_ops.so` (built by `pip install -e .`,
`make -C custom_ops` or Bazel; see docs/custom_op.md) is loaded the first time
the op is needed, never at import. When it is missing, fails to load, or was
built for another TensorFlow version, one warning says why and how to
rebuild, and `is_available()` is False so `implementation="auto"` uses the
pure-TensorFlow path. `MDN_TF_PURE_TF=1` forces that path without a warning.
`MDN_TF_CUSTOM_OP_LIB=/path/to/lib.so` loads a library from elsewhere (for
example Bazel's `bazel-bin/_mass_displacement_ops.so`).

Shapes: B batch, H x W map size, J heatmap channels, E voting edges, T output
maps.
"""

import os
import re
import threading
import warnings

import numpy as np
import tensorflow as tf

LIBRARY_NAME = "_mass_displacement_ops.so"
_STAMP = re.compile(rb"mdn_tf-build-stamp:tensorflow=([^;\x00]*);cuda=([01]);")
_REBUILD_HINT = (
    "rebuild it from the mdn_tf checkout with `pip install --no-build-isolation -e .` "
    "or `make -C custom_ops` (set MDN_TF_PURE_TF=1 to use the pure-TensorFlow path "
    "without this warning)"
)
# Attributes of the forward op that the backward op receives unchanged.
_ATTRS = (
    "combine",
    "kernel",
    "kernel_size",
    "sigma",
    "sigma_residual",
    "sources",
    "targets",
    "num_targets",
    "displacement_scale",
    "displacement_scale_residual",
)

_lock = threading.Lock()
_state = {"loaded": False, "library": None, "reason": None, "cuda": False}


def library_path():
    """Where the compiled library is looked for."""
    override = os.environ.get("MDN_TF_CUSTOM_OP_LIB")
    if override:
        return override
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)


def _forced_pure_tf():
    return os.environ.get("MDN_TF_PURE_TF", "").strip().lower() not in ("", "0", "false", "no")


def read_build_stamp(path):
    """(TensorFlow version, has CUDA kernels) stamped into the library file.

    Read from the bytes of the file: a library built for another TensorFlow
    version must not be loaded at all (its symbols may not resolve, or worse).
    Returns None when the file has no stamp.
    """
    with open(path, "rb") as handle:
        match = _STAMP.search(handle.read())
    if match is None:
        return None
    return match.group(1).decode("ascii", "replace"), match.group(2) == b"1"


def _register_gradient(library):
    @tf.RegisterGradient("Mdn>MassDisplacement")
    def _mass_displacement_grad(op, grad, unused_stat_grad, unused_count_grad):
        # Outputs 1 and 2 are the noisy-OR/max statistics the forward kernel
        # saved (empty when it did not): the backward kernel reuses them.
        attrs = {name: op.get_attr(name) for name in _ATTRS}
        return library.mdn_mass_displacement_grad(
            grad, *op.inputs, op.outputs[1], op.outputs[2], **attrs
        )


def _try_load():
    """Returns (library, cuda, reason); library is None when unusable."""
    if _forced_pure_tf():
        return None, False, "MDN_TF_PURE_TF is set, which forces the pure-TensorFlow path"
    path = library_path()
    if not os.path.isfile(path):
        return None, False, f"the compiled library {path} is not built"
    try:
        stamp = read_build_stamp(path)
    except OSError as err:
        return None, False, f"the compiled library {path} cannot be read ({err})"
    if stamp is None:
        return None, False, f"the compiled library {path} has no mdn_tf build stamp"
    built_for, cuda = stamp
    if built_for != tf.__version__:
        return None, False, (
            f"the compiled library {path} was built for TensorFlow {built_for}, "
            f"but TensorFlow {tf.__version__} is running"
        )
    try:
        library = tf.load_op_library(path)
    except Exception as err:  # NotFoundError, OSError, ...: any failure means "unusable"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        return None, False, f"the compiled library {path} failed to load ({first_line})"
    if not hasattr(library, "mdn_mass_displacement_grad"):
        return None, False, f"the compiled library {path} does not define Mdn>MassDisplacement"
    _register_gradient(library)
    return library, cuda, None


def _ensure_loaded():
    if _state["loaded"]:
        return
    with _lock:
        if _state["loaded"]:
            return
        library, cuda, reason = _try_load()
        _state.update(library=library, cuda=cuda, reason=reason, loaded=True)
        if reason is not None and not _forced_pure_tf():
            warnings.warn(
                f"mdn_tf: using the pure-TensorFlow MassDisplacement path because {reason}; "
                f"{_REBUILD_HINT}.",
                RuntimeWarning,
                stacklevel=3,
            )


def is_available():
    """True when the compiled library is loaded and usable (loads it on first call)."""
    _ensure_loaded()
    return _state["library"] is not None


def unavailable_reason():
    """Why the compiled op cannot be used, or None when it can."""
    _ensure_loaded()
    return _state["reason"]


def has_cuda_kernels():
    """True when the loaded library also registers GPU kernels."""
    _ensure_loaded()
    return _state["library"] is not None and _state["cuda"]


def in_xla_context():
    """True while tracing a function that XLA will compile.

    Covers `tf.function(jit_compile=True)`, functions called from one, and
    Keras `model.compile(jit_compile=True)` (Keras wraps its train, test and
    predict steps in such a `tf.function`). Tracing of a jit-compiled function
    happens inside an `XLAControlFlowContext`, which TensorFlow's own
    `control_flow_util.GraphOrParentsInXlaContext` finds by walking the graph
    and its outer graphs. XLA auto-clustering (`tf.config.optimizer.set_jit`)
    is not a problem: it leaves ops without an XLA kernel outside clusters.
    """
    if tf.executing_eagerly():
        return False
    # Private TensorFlow modules (there is no public API for this question);
    # the tests pin the behaviour for the supported TensorFlow version.
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import control_flow_util

    return bool(control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph()))


def _split_double(value):
    """(float32 value, float32 residual) whose sum is `value` to ~1e-14.

    Op attrs of type float are 32-bit; the kernels add the two halves back in
    double precision so float64 inputs are voted with the exact sigma and
    displacement_scale the pure-TensorFlow path uses.
    """
    high = float(np.float32(value))
    return high, float(np.float32(value - high))


def _library():
    if not is_available():
        raise RuntimeError(
            'implementation="custom_op" was requested, but the compiled MassDisplacement '
            f"op cannot be used: {unavailable_reason()}; {_REBUILD_HINT}."
        )
    return _state["library"]


def vote_custom_op(heatmaps, offsets_x, offsets_y, config, name=None):
    """Mass-displacement voting with the compiled op.

    Same semantics as the pure-TensorFlow path (see `mdn_tf.mass_displacement`);
    differentiable in all three inputs through `Mdn>MassDisplacementGrad`.

    Args:
        heatmaps: `[B, H, W, J]` float16, bfloat16, float32 or float64; J must
            be known statically.
        offsets_x: `[B, H, W, E]`, same dtype.
        offsets_y: `[B, H, W, E]`, same dtype.
        config: a `VotingConfig` from `make_voting_config`.
        name: name scope. Defaults to `"mass_displacement_custom_op"`.

    Returns:
        `[B, H, W, T]` in the input dtype (half types are accumulated in
        float32 inside the kernel).

    Raises:
        RuntimeError: the compiled library is unavailable (the message says why).
        TypeError: the inputs do not share one floating-point dtype.
        ValueError: J is unknown, or the edges do not fit J.
        tf.errors.InvalidArgumentError: shapes that do not fit, at run time.
    """
    library = _library()
    with tf.name_scope(name or "mass_displacement_custom_op"):
        heatmaps = tf.convert_to_tensor(heatmaps, name="heatmaps")
        offsets_x = tf.convert_to_tensor(offsets_x, name="offsets_x")
        offsets_y = tf.convert_to_tensor(offsets_y, name="offsets_y")
        dtypes = {heatmaps.dtype, offsets_x.dtype, offsets_y.dtype}
        if len(dtypes) != 1 or heatmaps.dtype not in (
            tf.float16, tf.bfloat16, tf.float32, tf.float64
        ):
            raise TypeError(
                "heatmaps, offsets_x and offsets_y must share one dtype among float16, "
                "bfloat16, float32, float64. Received: "
                f"{heatmaps.dtype.name}, {offsets_x.dtype.name}, {offsets_y.dtype.name}"
            )
        num_maps = heatmaps.shape[-1] if heatmaps.shape.rank is not None else None
        if num_maps is None:
            raise ValueError(
                "The number of heatmap channels J (last axis of heatmaps) must be known "
                f"when the graph is built. Received: heatmaps.shape={heatmaps.shape}"
            )
        config = config.for_channels(int(num_maps))
        sigma, sigma_residual = _split_double(config.sigma)
        scale, scale_residual = _split_double(config.displacement_scale)
        # Output 0 is the voted maps; 1 and 2 are statistics for the gradient.
        return library.mdn_mass_displacement(
            heatmaps,
            offsets_x,
            offsets_y,
            combine=config.combine,
            kernel=config.kernel,
            kernel_size=config.kernel_size,
            sigma=sigma,
            sigma_residual=sigma_residual,
            sources=list(config.sources),
            targets=list(config.targets),
            num_targets=config.num_targets,
            displacement_scale=scale,
            displacement_scale_residual=scale_residual,
        )[0]
