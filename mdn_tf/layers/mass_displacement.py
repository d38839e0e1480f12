"""The MassDisplacement Keras layer."""

import keras

from mdn_tf.ops.any_backend import check_implementation
from mdn_tf.ops.dispatch import vote
from mdn_tf.ops.shapes import check_shapes
from mdn_tf.ops.voting_config import make_voting_config


@keras.saving.register_keras_serializable(package="mdn_tf")
class MassDisplacement(keras.layers.Layer):
    """Mass-displacement voting: every pixel votes for where its joint is.

    Runs on every Keras 3 backend (TensorFlow, JAX, PyTorch).

    A network predicts confidence maps c(x) and a displacement field
    o(x) = (ox, oy). Every pixel x votes for the point x + s * o(x); a kernel
    K spreads the vote and the votes are combined at every output pixel:
    additively (Eq. 1, m = sum K c), by noisy-OR (Eq. 2, m = 1 - prod(1 - K c),
    a probability to train with cross-entropy) or by their maximum. Within-part
    voting sharpens each joint's own map; cross-part voting (`edges`) lets
    joint j vote for joint k along the kinematic tree. The layer has no
    weights and is differentiable in c and o, so it trains end to end.

    Pixel (row i, column j) is the point (x=j, y=i); votes that land partly
    off the map lose that part of their mass; votes with a non-finite landing
    point are dropped. See `mdn_tf.mass_displacement` for the exact rules.

    Args:
        combine: `"additive"`, `"noisy_or"` or `"max"`. Defaults to
            `"noisy_or"`.
        kernel: `"bilinear"` (2x2) or `"gaussian"` (kf x kf window, K(0) = 1,
            unnormalised). Defaults to `"bilinear"`.
        kernel_size: Gaussian window kf, a positive odd integer; ignored for
            bilinear. Defaults to 5.
        sigma: Gaussian standard deviation in pixels. Defaults to
            `kernel_size / 6`.
        edges: None for within-part voting (map j votes into map j), or a list
            of `(source_map, target_map)` pairs, one per offset channel.
            Defaults to None.
        num_targets: number of output maps T. Defaults to J for within-part
            voting, else 1 + the largest target.
        displacement_scale: s, a vote lands at x + s * o(x). Defaults to 1.
        implementation: `"auto"`, `"tf"`, `"custom_op"` or `"keras"`. On the
            TensorFlow backend `"auto"` uses the compiled op when it is built
            and loadable, and the pure-TensorFlow path otherwise and inside
            XLA compilations; on the JAX and PyTorch backends it uses the
            `keras.ops` path (`"keras"`, which runs on every backend; `"tf"`
            means it there too, and `"custom_op"` raises). Defaults to
            `"auto"`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        Three tensors: heatmaps `(batch, height, width, J)`, offsets_x and
        offsets_y `(batch, height, width, E)` with E = J for within-part
        voting and E = len(edges) otherwise.

    Output shape:
        `(batch, height, width, T)`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> heatmaps = np.zeros((1, 8, 8, 1), "float32")
    >>> heatmaps[0, 2, 3, 0] = 1.0
    >>> offsets_x = np.full((1, 8, 8, 1), 1.5, "float32")
    >>> offsets_y = np.full((1, 8, 8, 1), 2.0, "float32")
    >>> m = MassDisplacement(combine="additive")(heatmaps, offsets_x, offsets_y)
    >>> np.round(keras.ops.convert_to_numpy(m)[0, 4, 4:6, 0], 2)  # (3, 2) voted for (4.5, 4)
    array([0.5, 0.5], dtype=float32)

    Reference:
        N. Neverova and I. Kokkinos, "Mass Displacement Networks", BMVC 2018.
        https://arxiv.org/abs/1708.03816
    """

    def __init__(
        self,
        combine="noisy_or",
        kernel="bilinear",
        kernel_size=5,
        sigma=None,
        edges=None,
        num_targets=None,
        displacement_scale=1.0,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.voting = make_voting_config(
            combine=combine,
            kernel=kernel,
            kernel_size=kernel_size,
            sigma=sigma,
            edges=edges,
            num_targets=num_targets,
            displacement_scale=displacement_scale,
        )
        self.implementation = check_implementation(implementation)
        # Arguments as the user gave them, for get_config.
        self.combine = combine
        self.kernel = kernel
        self.kernel_size = kernel_size
        self.sigma = sigma
        self.edges = None if edges is None else [list(edge) for edge in edges]
        self.num_targets = num_targets
        self.displacement_scale = displacement_scale

    def build(self, heatmaps_shape, offsets_x_shape, offsets_y_shape):
        check_shapes(heatmaps_shape, offsets_x_shape, offsets_y_shape, self.voting)
        self.built = True

    def call(self, heatmaps, offsets_x, offsets_y):
        return vote(
            heatmaps,
            offsets_x,
            offsets_y,
            self.voting,
            self.implementation,
            output_dtype=self.compute_dtype,
        )

    def compute_output_shape(self, heatmaps_shape, offsets_x_shape, offsets_y_shape):
        config = check_shapes(heatmaps_shape, offsets_x_shape, offsets_y_shape, self.voting)
        batch, height, width = tuple(heatmaps_shape)[:3]
        return (batch, height, width, config.num_targets)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "combine": self.combine,
            "kernel": self.kernel,
            "kernel_size": self.kernel_size,
            "sigma": self.sigma,
            "edges": self.edges,
            "num_targets": self.num_targets,
            "displacement_scale": self.displacement_scale,
            "implementation": self.implementation,
        }
        return {**base_config, **config}
