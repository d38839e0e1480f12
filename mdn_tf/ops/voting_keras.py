"""Mass-displacement voting in `keras.ops`, for every Keras backend.

The same algorithm as the pure-TensorFlow path (`voting_tf.py`): every vote
is expanded into its kernel taps, each tap gets a flat output index, and a
segment reduction combines the taps per output pixel; taps off the map and
votes whose landing point is not finite go to one extra "dump" segment that
is sliced away. Cost and memory are O(votes x taps).

The gradients are exact without a custom gradient: each combine rule is
written so that automatic differentiation of its forward formula *is* the
exact (first) derivative, on JAX, PyTorch and TensorFlow alike, under
`jax.jit`, `torch.autograd` and `tf.GradientTape`:

- noisy-OR: m = 1 - exp(S) * Z, with S the log-space sum of the non-zero
  factors 1 - v and Z standing in for the product of the zero factors
  (certain votes, v = 1). Z is 1 without a certain vote; with exactly one
  it is that vote's factor 1 - v (0 in value, derivative -1), so its
  derivative is exp(S), the product of the *other* factors; with several
  it is the constant 0. No division by a zero factor ever happens.
- max: m = best + sum over winners of (v - stop_gradient(v)) / n, with
  `best` the (gradient-stopped) maximum and n its number of exact ties: the
  value is `best` bit for bit and each winner gets 1/n of the gradient.
- heatmap clipping (noisy-OR) is a `where`, so c = 0 and c = 1 pass their
  gradient, as `tf.clip_by_value` does (`jnp.clip` would halve it there).

Shapes: B batch, H x W map size, J heatmap channels, E voting edges,
T output maps, K taps per vote (4 bilinear, kf*kf Gaussian). Under JAX and
PyTorch every shape is static; under TensorFlow B, H and W may be unknown
until run time.
"""

import keras
from keras import ops

from mdn_tf.ops import segments


def clip_unit(values):
    """Clips to [0, 1]; the gradient passes on [0, 1] inclusive, 0 outside."""
    return ops.where(values < 0, 0.0, ops.where(values > 1, 1.0, values))


def _axis_taps(landing, config, size):
    """1-D tap positions, weights and in-map flags along one axis.

    Args:
        landing: `[B, H, W, E]` finite landing coordinate along this axis.
        config: the resolved `VotingConfig`.
        size: map size along this axis (a scalar of the landing dtype).

    Returns:
        positions and weights `[B, H, W, E, k]` (positions hold integral
        values) and a boolean `inside`; k = 2 (bilinear) or kf (Gaussian).
    """
    dtype = landing.dtype
    landing = landing[..., None]
    if config.kernel == "bilinear":
        # floor has a zero derivative on every backend, so the weights
        # differentiate to -1 / +1: the one-sided derivative at integer
        # landings, as in every bilinear sampler.
        origin = ops.floor(landing)
        frac = landing - origin
        positions = origin + ops.convert_to_tensor([0.0, 1.0], dtype)
        weights = ops.concatenate([1.0 - frac, frac], axis=-1)
    else:
        centre = ops.floor(landing + 0.5)
        steps = ops.cast(ops.arange(-config.radius, config.radius + 1), dtype)
        positions = centre + steps
        distance = positions - landing
        weights = ops.exp(-ops.square(distance) / (2.0 * config.sigma**2))
    inside = ops.logical_and(positions >= 0, positions < size)
    return positions, weights, inside


def _noisy_or(values, segment_ids, num_segments):
    """m = 1 - prod(1 - v) per segment; exact value and gradient (module docstring)."""
    dtype = values.dtype
    certain = values == 1.0  # the factor 1 - v is exactly 0
    log_factors = ops.log1p(-ops.where(certain, 0.0, values))
    log_product = segments.segment_sum(log_factors, segment_ids, num_segments)
    zero_count = segments.segment_sum(ops.cast(certain, dtype), segment_ids, num_segments)
    zero_factors = segments.segment_sum(
        ops.where(certain, 1.0 - values, 0.0), segment_ids, num_segments
    )
    zero_product = ops.where(zero_count == 1, zero_factors, 0.0)
    # expm1 keeps small probabilities exact where 1 - exp(.) would cancel.
    return ops.where(
        zero_count == 0, -ops.expm1(log_product), 1.0 - ops.exp(log_product) * zero_product
    )


def _max(values, segment_ids, num_segments):
    """m = max(0, max v) per segment; the gradient goes to the winning taps.

    Taps outside a vote's kernel have K = 0, so the maximum is never below 0
    and a map without votes is 0. Exact ties share the gradient equally;
    m = 0 passes no gradient (every tap is at the kink there).
    """
    frozen = ops.stop_gradient(values)
    # `where`, not `maximum(x, 0.0)`: Keras's PyTorch maximum returns float32
    # for a float64 tensor and a Python scalar.
    best = segments.segment_max(frozen, segment_ids, num_segments)
    best = ops.where(best > 0, best, 0.0)
    best_per_tap = ops.take(best, segment_ids)
    wins = ops.logical_and(frozen == best_per_tap, best_per_tap > 0)
    win_count = segments.segment_sum(ops.cast(wins, values.dtype), segment_ids, num_segments)
    # The denominator is >= 1 everywhere, so no 0/0 reaches the gradient of
    # the branch that `where` discards.
    ties = ops.take(win_count, segment_ids)
    ties = ops.where(ties > 1, ties, 1.0)
    share = ops.where(wins, (values - frozen) / ties, 0.0)
    return best + segments.segment_sum(share, segment_ids, num_segments)


def vote_keras(heatmaps, offsets_x, offsets_y, config):
    """Votes with `keras.ops` on the running Keras backend.

    Args:
        heatmaps: `[B, H, W, J]` float32 or float64 backend tensor.
        offsets_x: `[B, H, W, E]`, same dtype.
        offsets_y: `[B, H, W, E]`, same dtype.
        config: a `VotingConfig` resolved for J (`config.for_channels(J)`).

    Returns:
        `[B, H, W, T]` maps in the input dtype.
    """
    dtype = keras.backend.standardize_dtype(heatmaps.dtype)
    batch, height, width = ops.shape(heatmaps)[:3]
    num_targets = config.num_targets
    num_segments = batch * height * width * num_targets
    if not config.sources:
        return ops.zeros((batch, height, width, num_targets), dtype)

    confidences = clip_unit(heatmaps) if config.combine == "noisy_or" else heatmaps
    confidences = ops.take(confidences, list(config.sources), axis=-1)  # [B,H,W,E]

    height_f = ops.cast(height, dtype)
    width_f = ops.cast(width, dtype)
    column = ops.reshape(ops.cast(ops.arange(width), dtype), (1, 1, -1, 1))
    row = ops.reshape(ops.cast(ops.arange(height), dtype), (1, -1, 1, 1))
    landing_x = column + config.displacement_scale * offsets_x
    landing_y = row + config.displacement_scale * offsets_y

    # A vote that cannot touch the map is dropped before any index exists,
    # which also keeps NaN, inf and 1e30 away from the float -> int cast.
    # The reach is R + 1 (R = kf // 2 Gaussian, 1 bilinear): a bilinear
    # landing at exactly -1 still has a zero-weight tap on column 0 that
    # carries the offset gradient, as in the other implementations.
    reach = float((config.radius if config.kernel == "gaussian" else 1) + 1)
    valid = ops.logical_and(
        ops.logical_and(ops.isfinite(landing_x), ops.isfinite(landing_y)),
        ops.logical_and(
            ops.logical_and(landing_x > -reach, landing_x < width_f + reach),
            ops.logical_and(landing_y > -reach, landing_y < height_f + reach),
        ),
    )
    landing_x = ops.where(valid, landing_x, 0.0)
    landing_y = ops.where(valid, landing_y, 0.0)

    tap_x, weight_x, inside_x = _axis_taps(landing_x, config, width_f)
    tap_y, weight_y, inside_y = _axis_taps(landing_y, config, height_f)
    # Outer products over the two axes: [B, H, W, E, ky, kx].
    weights = weight_y[..., :, None] * weight_x[..., None, :]
    inside = ops.logical_and(
        ops.logical_and(inside_y[..., :, None], inside_x[..., None, :]),
        valid[..., None, None],
    )
    values = weights * confidences[..., None, None]

    # Flat index of output pixel (b, ty, tx, target) in a [B, H, W, T] map.
    tap_x = ops.cast(ops.where(inside_x, tap_x, 0.0), "int32")
    tap_y = ops.cast(ops.where(inside_y, tap_y, 0.0), "int32")
    image = ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1, 1, 1, 1))
    target = ops.reshape(ops.convert_to_tensor(list(config.targets), "int32"), (-1, 1, 1))
    pixel_y = image * height + tap_y  # [B, H, W, E, ky]
    flat = (pixel_y[..., :, None] * width + tap_x[..., None, :]) * num_targets + target
    segment_ids = ops.where(inside, flat, num_segments)

    values = ops.reshape(values, (-1,))
    segment_ids = ops.reshape(segment_ids, (-1,))
    total_segments = num_segments + 1  # the last one collects dropped taps
    if config.combine == "additive":
        combined = segments.segment_sum(values, segment_ids, total_segments)
    elif config.combine == "noisy_or":
        combined = _noisy_or(values, segment_ids, total_segments)
    else:
        combined = _max(values, segment_ids, total_segments)
    return ops.reshape(combined[:num_segments], (batch, height, width, num_targets))
