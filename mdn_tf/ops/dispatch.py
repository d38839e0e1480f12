"""The layer's entry into voting: the running Keras backend picks the path.

On TensorFlow, `mass_displacement.vote` chooses between the compiled op and
pure TensorFlow; on JAX and PyTorch, `any_backend.vote_any_backend` votes
with `keras.ops`. TensorFlow is imported only when Keras runs on it, so
`MassDisplacement` imports and runs on machines that have JAX or PyTorch
and no TensorFlow at all.
"""

from mdn_tf.backend_check import is_tensorflow_backend
from mdn_tf.ops.any_backend import vote_any_backend


def vote(heatmaps, offsets_x, offsets_y, config, implementation="auto", output_dtype=None):
    """Votes with an already validated `VotingConfig` on the running backend.

    Half-precision inputs are computed in float32 and returned in
    `output_dtype` (default: the dtype of `heatmaps`).
    """
    if not is_tensorflow_backend():
        return vote_any_backend(heatmaps, offsets_x, offsets_y, config, implementation,
                                output_dtype)
    # Imported here, not at the top: TensorFlow is loaded only on its own backend.
    from mdn_tf.ops import mass_displacement

    return mass_displacement.vote(heatmaps, offsets_x, offsets_y, config, implementation,
                                  output_dtype)
