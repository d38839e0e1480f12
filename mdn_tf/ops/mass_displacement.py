"""The public voting function and the choice of implementation.

Shapes: B batch, H x W map size, J heatmap channels, E voting edges (one
displacement channel each), T output maps.
"""


import tensorflow as tf

from mdn_tf.backend_check import is_tensorflow_backend
from mdn_tf.ops import custom_op, determinism
from mdn_tf.ops.any_backend import check_implementation, vote_any_backend
from mdn_tf.ops.shapes import check_shapes
from mdn_tf.ops.thread_switch import ThreadSwitch
from mdn_tf.ops.voting_config import make_voting_config
from mdn_tf.ops.voting_keras import vote_keras
from mdn_tf.ops.voting_tf import vote_tf

_FORCE_PURE_TF = ThreadSwitch()
_FLOAT_TYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)


def _runtime_shape_checks(heatmaps, offsets_x, offsets_y):
    """Asserts at run time what could not be checked while building."""
    static = [t.shape for t in (heatmaps, offsets_x, offsets_y)]
    if all(s.is_fully_defined() for s in static):
        return []
    shape_h = tf.shape(heatmaps)[:3]
    return [
        tf.debugging.assert_equal(
            tf.shape(tensor)[:3],
            shape_h,
            message=f"heatmaps and {name} must share B, H, W",
        )
        for name, tensor in (("offsets_x", offsets_x), ("offsets_y", offsets_y))
    ]


def _convert(value, name):
    tensor = tf.convert_to_tensor(value, name=name)
    if tensor.dtype not in _FLOAT_TYPES:
        raise TypeError(
            f"{name} must be float16, bfloat16, float32 or float64. "
            f"Received: {name}.dtype={tensor.dtype.name}"
        )
    return tensor


def pure_tensorflow():
    """Within this context every vote takes the pure-TensorFlow path.

    Used while tracing graphs that must run without the compiled library:
    SavedModels for stock TF Serving, and anything loaded by a process that
    never loads mdn_tf.
    """
    return _FORCE_PURE_TF.turned_on()


def _select_implementation(implementation):
    if implementation == "tf" or _FORCE_PURE_TF.on:
        return vote_tf
    if implementation == "keras":
        return vote_keras
    if implementation == "custom_op":
        if not custom_op.is_available():
            raise RuntimeError(
                'implementation="custom_op" was requested, but the compiled '
                f"MassDisplacement op cannot be used: {custom_op.unavailable_reason()}"
            )
        if custom_op.in_xla_context():
            raise RuntimeError(
                'implementation="custom_op" cannot run inside an XLA compilation '
                '(jit_compile=True); use implementation="auto" or "tf" there.'
            )
        determinism.check_custom_op_deterministic(custom_op.has_cuda_kernels(), _gpu_present)
        return custom_op.vote_custom_op
    # "auto": the compiled op is fastest, but XLA cannot compile it, a
    # library built without CUDA kernels would pull GPU tensors to the CPU,
    # and its CUDA kernels are not deterministic (see determinism.py).
    if (
        custom_op.is_available()
        and not custom_op.in_xla_context()
        and (custom_op.has_cuda_kernels() or not _gpu_present())
        and not determinism.compiled_op_nondeterministic(custom_op.has_cuda_kernels(),
                                                         _gpu_present)
    ):
        return custom_op.vote_custom_op
    return vote_tf


def _gpu_present():
    return bool(tf.config.list_logical_devices("GPU"))


def vote(heatmaps, offsets_x, offsets_y, config, implementation="auto", output_dtype=None):
    """Votes with an already validated `VotingConfig`; used by the layer.

    Half-precision inputs are computed in float32 and returned in
    `output_dtype` (default: the dtype of `heatmaps`).
    """
    if not is_tensorflow_backend():  # JAX, PyTorch: keras.ops only
        return vote_any_backend(heatmaps, offsets_x, offsets_y, config, implementation,
                                output_dtype)
    heatmaps = _convert(heatmaps, "heatmaps")
    offsets_x = _convert(offsets_x, "offsets_x")
    offsets_y = _convert(offsets_y, "offsets_y")
    config = check_shapes(heatmaps.shape, offsets_x.shape, offsets_y.shape, config)
    output_dtype = tf.as_dtype(output_dtype or heatmaps.dtype)

    dtypes = {heatmaps.dtype, offsets_x.dtype, offsets_y.dtype}
    compute_dtype = tf.float64 if tf.float64 in dtypes else tf.float32
    run = _select_implementation(implementation)
    with tf.control_dependencies(_runtime_shape_checks(heatmaps, offsets_x, offsets_y)):
        result = run(
            tf.cast(heatmaps, compute_dtype),
            tf.cast(offsets_x, compute_dtype),
            tf.cast(offsets_y, compute_dtype),
            config,
        )
    return tf.cast(result, output_dtype)


def mass_displacement(
    heatmaps,
    offsets_x,
    offsets_y,
    combine="noisy_or",
    kernel="bilinear",
    kernel_size=5,
    sigma=None,
    edges=None,
    num_targets=None,
    displacement_scale=1.0,
    implementation="auto",
    name=None,
):
    """Mass-displacement voting (Neverova & Kokkinos, BMVC 2018).

    Every pixel x of heatmap channel `source_e` votes with confidence c(x)
    for the point x' = x + s * o_e(x) of output map `target_e`; a kernel K
    spreads each vote over the pixels around x', and the votes are combined
    per output pixel xo:

    - `"additive"` (Eq. 1): m(xo) = sum_x K(xo - x') c(x)
    - `"noisy_or"` (Eq. 2): m(xo) = 1 - prod_x (1 - K(xo - x') c(x)), with c
      clipped to [0, 1] so m is a probability
    - `"max"`: m(xo) = max_x K(xo - x') c(x)

    Pixel (row i, column j) is the point (x=j, y=i). Votes landing off the
    map lose the off-map part of their mass; votes with a non-finite landing
    point are dropped. Differentiable in all three inputs.

    Args:
        heatmaps: `[B, H, W, J]` confidences c.
        offsets_x: `[B, H, W, E]` horizontal displacement of each edge.
        offsets_y: `[B, H, W, E]` vertical displacement of each edge.
        combine: `"additive"`, `"noisy_or"` or `"max"`. Defaults to
            `"noisy_or"`.
        kernel: `"bilinear"` (2x2) or `"gaussian"` (kf x kf, K(0) = 1).
            Defaults to `"bilinear"`.
        kernel_size: Gaussian window kf, a positive odd integer; ignored for
            bilinear. Defaults to 5.
        sigma: Gaussian standard deviation in pixels. Defaults to
            `kernel_size / 6`.
        edges: None for within-part voting (channel j votes into map j, E = J),
            or a list of `(source_map, target_map)` pairs, one per offset
            channel. Defaults to None.
        num_targets: number of output maps T. Defaults to J for within-part
            voting, else 1 + the largest target.
        displacement_scale: s, a vote lands at x + s * o(x). Defaults to 1.
        implementation: `"auto"` (compiled op when available and not under
            XLA, else pure TensorFlow; the `keras.ops` path on the JAX and
            PyTorch backends), `"tf"`, `"custom_op"` (TensorFlow backend
            only) or `"keras"` (`keras.ops`, every backend). Defaults to
            `"auto"`.
        name: name scope. Defaults to `"mass_displacement"`.

    Returns:
        `[B, H, W, T]` maps in the dtype of `heatmaps`.

    Raises:
        ValueError: an argument or a static shape is invalid (the message
            names it and echoes the value received).
        TypeError: an input is not a floating-point tensor.
        RuntimeError: `implementation="custom_op"` when the compiled op is
            unavailable, inside XLA, on a Keras backend other than
            TensorFlow, or when op determinism is enabled and a GPU is
            visible (its CUDA kernels use atomics; `"auto"` then takes the
            pure-TensorFlow path).
    """
    config = make_voting_config(
        combine=combine,
        kernel=kernel,
        kernel_size=kernel_size,
        sigma=sigma,
        edges=edges,
        num_targets=num_targets,
        displacement_scale=displacement_scale,
    )
    check_implementation(implementation)
    with tf.name_scope(name or "mass_displacement"):
        return vote(heatmaps, offsets_x, offsets_y, config, implementation)
