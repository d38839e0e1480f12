"""The compiled MassDisplacement op (not built yet).

The C++/CUDA kernels arrive with the compiled-op issue. Until then the op is
reported unavailable, `implementation="auto"` uses the pure-TensorFlow path
and `implementation="custom_op"` raises a clear error.
"""

_NOT_BUILT = (
    "the compiled MassDisplacement op is not part of this version of mdn_tf; "
    'use implementation="tf" or "auto"'
)


def is_available():
    """True when the compiled library is loaded and usable."""
    return False


def unavailable_reason():
    """Why the compiled op cannot be used (None when it can)."""
    return _NOT_BUILT


def vote_custom_op(heatmaps, offsets_x, offsets_y, config):
    raise RuntimeError(
        f'implementation="custom_op" was requested, but {unavailable_reason()}.'
    )


def in_xla_context():
    """True while tracing inside an XLA compilation (replaced with the real check)."""
    return False
