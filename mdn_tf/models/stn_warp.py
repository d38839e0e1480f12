"""Backward bilinear warp of heatmaps by a displacement field (STN baseline).

The paper's Spatial Transformer baseline (Neverova & Kokkinos, BMVC 2018,
Sec. 4) moves heatmap mass with the same predicted field as an MDN, but by
*gathering* instead of *scattering*: each output pixel x reads the source
heatmap at the point its displacement points to,

    w_e(x) = bilinear(c_{s(e)}, x + s * o_e(x)),

and the edges that share a target map are combined with the same rule as
MDN voting (noisy-OR, sum or max). Pixel (row i, col j) is the point
(x=j, y=i), as in `MassDisplacement`. Reads outside the map are zero.
Written in `keras.ops`: it runs on every Keras backend.

Shapes: B batch, H x W map size, J heatmap channels, E edges, T targets.
"""

import keras
from keras import ops

from mdn_tf.ops.voting_config import make_voting_config
from mdn_tf.ops.voting_keras import clip_unit


def _combine_edges(warped, targets, num_targets, combine):
    """Combines the `[B, H, W, E]` warped maps into `[B, H, W, T]` per target.

    The edges are known when the graph is built, so each target map is a
    Python loop over its few edges: a plain product for noisy-OR (exact
    derivatives even where a factor is 0) and a reduced maximum, whose
    gradient every backend shares equally between exact ties.
    """
    maps = []
    for target in range(num_targets):
        members = [warped[..., e] for e, t in enumerate(targets) if t == target]
        if not members:
            maps.append(ops.zeros_like(warped[..., 0]))
        elif combine == "additive":
            maps.append(sum(members[1:], members[0]))
        elif combine == "max":
            best = ops.max(ops.stack(members, axis=0), axis=0)
            # max(best, 0) with the gradient kept at best = 0, as tf.maximum
            # does (and Keras's PyTorch maximum would turn float64 to float32).
            maps.append(ops.where(best >= 0, best, 0.0))
        else:
            complement = 1.0 - clip_unit(members[0])
            for member in members[1:]:
                complement = complement * (1.0 - clip_unit(member))
            maps.append(1.0 - complement)
    return ops.stack(maps, axis=-1)


def warp_bilinear(heatmaps, offsets_x, offsets_y, sources, targets, num_targets,
                  combine="noisy_or", displacement_scale=1.0):
    """Backward-warps heatmaps by per-edge displacements and combines per target.

    Written in `keras.ops`, so it runs on every Keras backend.

    Args:
        heatmaps: `[B, H, W, J]` maps (probabilities for noisy-OR).
        offsets_x: `[B, H, W, E]` x displacement of each edge, in pixels / s.
        offsets_y: `[B, H, W, E]` y displacement of each edge.
        sources: length-E sequence, the heatmap channel each edge reads.
        targets: length-E sequence, the output map each edge feeds.
        num_targets: T.
        combine: "noisy_or", "additive" or "max". Defaults to "noisy_or".
        displacement_scale: s. Defaults to 1.0.

    Returns:
        `[B, H, W, T]` warped maps.
    """
    heatmaps = ops.convert_to_tensor(heatmaps)
    dtype = keras.backend.standardize_dtype(heatmaps.dtype)
    offsets_x = ops.cast(offsets_x, dtype)
    offsets_y = ops.cast(offsets_y, dtype)
    batch, height, width = ops.shape(heatmaps)[:3]
    num_edges = len(sources)

    # [B, E, H*W] source maps, one per edge, read with flat indices.
    source_maps = ops.take(heatmaps, list(sources), axis=-1)
    source_maps = ops.reshape(ops.transpose(source_maps, (0, 3, 1, 2)), (batch, num_edges, -1))
    grid_x = ops.reshape(ops.cast(ops.arange(width), dtype), (1, 1, -1, 1))
    grid_y = ops.reshape(ops.cast(ops.arange(height), dtype), (1, -1, 1, 1))
    read_x = grid_x + displacement_scale * offsets_x
    read_y = grid_y + displacement_scale * offsets_y
    finite = ops.logical_and(ops.isfinite(read_x), ops.isfinite(read_y))
    # Non-finite reads are parked far off the map, so every corner is invalid.
    read_x = ops.where(finite, read_x, -10.0)
    read_y = ops.where(finite, read_y, -10.0)
    x0, y0 = ops.floor(read_x), ops.floor(read_y)
    fx, fy = read_x - x0, read_y - y0
    width_f, height_f = ops.cast(width, dtype), ops.cast(height, dtype)

    warped = ops.zeros_like(read_x)
    for dx, dy, weight in (
        (0.0, 0.0, (1 - fx) * (1 - fy)),
        (1.0, 0.0, fx * (1 - fy)),
        (0.0, 1.0, (1 - fx) * fy),
        (1.0, 1.0, fx * fy),
    ):
        cx, cy = x0 + dx, y0 + dy
        inside = ops.logical_and(
            ops.logical_and(cx >= 0, cx < width_f), ops.logical_and(cy >= 0, cy < height_f)
        )
        index = ops.cast(
            ops.clip(cy, 0, height_f - 1) * width_f + ops.clip(cx, 0, width_f - 1), "int32"
        )
        index = ops.reshape(ops.transpose(index, (0, 3, 1, 2)), (batch, num_edges, -1))
        values = ops.take_along_axis(source_maps, index, axis=2)
        values = ops.transpose(ops.reshape(values, (batch, num_edges, height, width)),
                               (0, 2, 3, 1))
        warped = warped + ops.where(inside, weight * values, 0.0)
    return _combine_edges(warped, targets, num_targets, combine)


@keras.saving.register_keras_serializable(package="mdn_tf")
class BilinearWarp(keras.layers.Layer):
    """Spatial-Transformer-style backward warp of heatmaps (the `stn` variant).

    The gather counterpart of `MassDisplacement`: instead of sending each
    pixel's mass to `x + s * o(x)`, each output pixel reads the heatmap at
    `x + s * o(x)` (bilinear, zero outside), and edges sharing a target map
    are combined with `combine`. Differentiable in heatmaps and offsets.

    Args:
        combine: "noisy_or", "additive" or "max". Defaults to "noisy_or".
        edges: None for within-part warping (edge j reads map j into map j),
            or a list of `(source_map, target_map)` pairs. Defaults to None.
        num_targets: T; defaults to J (within-part) or 1 + max target.
        displacement_scale: s. Defaults to 1.0.

    Input shape:
        heatmaps `[B, H, W, J]`, offsets_x and offsets_y `[B, H, W, E]`.

    Output shape:
        `[B, H, W, T]`.

    Example:

        warp = BilinearWarp(combine="noisy_or")
        maps = warp(heatmaps, offsets_x, offsets_y)

    Reference: Neverova & Kokkinos, "Mass Displacement Networks", BMVC 2018
    (STN baseline); Jaderberg et al., "Spatial Transformer Networks", 2015.
    """

    def __init__(self, combine="noisy_or", edges=None, num_targets=None,
                 displacement_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        # The voting config checks the shared arguments with the same messages.
        self._voting = make_voting_config(
            combine=combine, edges=edges, num_targets=num_targets,
            displacement_scale=displacement_scale,
        )
        self.combine = combine
        self.edges = None if edges is None else [list(edge) for edge in edges]
        self.num_targets = num_targets
        self.displacement_scale = float(displacement_scale)

    def build(self, heatmaps_shape, offsets_x_shape=None, offsets_y_shape=None):
        resolved = self._voting.for_channels(heatmaps_shape[-1])
        num_edges = len(resolved.sources)
        for arg, shape in (("offsets_x", offsets_x_shape), ("offsets_y", offsets_y_shape)):
            if shape is not None and shape[-1] is not None and shape[-1] != num_edges:
                raise ValueError(
                    f"{arg} must have one channel per edge (E={num_edges}). "
                    f"Received: {arg}.shape={tuple(shape)}"
                )
        self._resolved = resolved
        self.built = True

    def call(self, heatmaps, offsets_x, offsets_y):
        config = self._resolved
        return warp_bilinear(
            heatmaps, offsets_x, offsets_y, config.sources, config.targets,
            config.num_targets, combine=self.combine,
            displacement_scale=self.displacement_scale,
        )

    def compute_output_shape(self, heatmaps_shape, offsets_x_shape=None, offsets_y_shape=None):
        resolved = self._voting.for_channels(heatmaps_shape[-1])
        return tuple(heatmaps_shape[:-1]) + (resolved.num_targets,)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "combine": self.combine,
            "edges": self.edges,
            "num_targets": self.num_targets,
            "displacement_scale": self.displacement_scale,
        }
        return {**base_config, **config}
