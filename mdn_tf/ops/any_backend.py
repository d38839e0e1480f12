"""Voting on the JAX and PyTorch backends of Keras (the non-TensorFlow entry).

`mdn_tf.ops.mass_displacement.vote` hands over here when Keras does not run
on TensorFlow. The arguments are checked exactly as on TensorFlow (same
`VotingConfig`, same static shape checks and messages); the inputs become
tensors of the running backend, never TensorFlow tensors, and the votes are
cast with `keras.ops` and counted by `voting_keras.vote_keras`.

`implementation="auto"`, `"keras"` and `"tf"` take the `keras.ops` path
there: `"tf"` asks for the pure path without the compiled library, and the
`keras.ops` path is that path on these backends (so a `.keras` file saved
with `implementation="tf"`, as `--jit-compile` training does, loads and runs
everywhere). `"custom_op"` is a TensorFlow op and raises a `RuntimeError`
that says so. Shapes are static on these backends (JAX traces with concrete
shapes, PyTorch runs eagerly), so every shape check happens before voting.
"""

import os

import keras

from mdn_tf.ops.shapes import check_shapes
from mdn_tf.ops.voting_config import IMPLEMENTATIONS
from mdn_tf.ops.voting_keras import vote_keras

_FLOAT_TYPES = ("float16", "bfloat16", "float32", "float64")


def check_implementation(implementation):
    """Returns `implementation` when it is a name and can run on this Keras backend.

    Raises:
        ValueError: not one of `IMPLEMENTATIONS`.
        RuntimeError: `"custom_op"` on a backend other than TensorFlow.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {IMPLEMENTATIONS}. "
            f"Received: implementation={implementation!r}"
        )
    return check_implementation_for_backend(implementation)


def check_implementation_for_backend(implementation, backend=None):
    """Raises when `implementation` cannot run on the Keras backend.

    Args:
        implementation: a valid implementation name (already checked).
        backend: a Keras backend name. Defaults to the running one.

    Returns:
        `implementation`, unchanged.

    Raises:
        RuntimeError: `"custom_op"` on a backend other than TensorFlow.
    """
    backend = backend or keras.backend.backend()
    if backend != "tensorflow" and implementation == "custom_op":
        raise RuntimeError(
            'implementation="custom_op" was requested, but the compiled MassDisplacement op '
            f'is a TensorFlow op and Keras runs on the "{backend}" backend '
            f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}). Use implementation=\"auto\" "
            'or "keras" (the keras.ops path, which runs on every backend).'
        )
    return implementation


def _convert(value, name):
    tensor = keras.ops.convert_to_tensor(value)
    dtype = keras.backend.standardize_dtype(tensor.dtype)
    if dtype not in _FLOAT_TYPES:
        raise TypeError(
            f"{name} must be float16, bfloat16, float32 or float64. "
            f"Received: {name}.dtype={dtype}"
        )
    return tensor, dtype


def vote_any_backend(heatmaps, offsets_x, offsets_y, config, implementation="auto",
                     output_dtype=None):
    """Votes with an already validated `VotingConfig` on JAX or PyTorch.

    The counterpart of `mass_displacement.vote` for the other backends:
    half-precision inputs are computed in float32 (float64 when any input is
    float64) and returned in `output_dtype` (default: the dtype of
    `heatmaps`).

    Raises:
        RuntimeError: `implementation="custom_op"`.
        ValueError: shapes that do not fit (the messages of `check_shapes`).
        TypeError: an input that is not floating point.
    """
    check_implementation_for_backend(implementation)
    heatmaps, heatmaps_dtype = _convert(heatmaps, "heatmaps")
    offsets_x, offsets_x_dtype = _convert(offsets_x, "offsets_x")
    offsets_y, offsets_y_dtype = _convert(offsets_y, "offsets_y")
    config = check_shapes(
        tuple(heatmaps.shape), tuple(offsets_x.shape), tuple(offsets_y.shape), config
    )
    dtypes = {heatmaps_dtype, offsets_x_dtype, offsets_y_dtype}
    compute_dtype = "float64" if "float64" in dtypes else "float32"
    result = vote_keras(
        keras.ops.cast(heatmaps, compute_dtype),
        keras.ops.cast(offsets_x, compute_dtype),
        keras.ops.cast(offsets_y, compute_dtype),
        config,
    )
    return keras.ops.cast(result, output_dtype or heatmaps_dtype)
