"""Mass-displacement voting in stock TensorFlow ops.

This path is what XLA compiles, what SavedModels export and what stock
TF Serving runs, so it only uses ops with XLA kernels: every vote is expanded
into its kernel taps, each tap gets a flat output index, and one
`unsorted_segment_*` reduction combines the taps per output pixel. Cost and
memory are O(votes x taps); no dense (H*W) x (H*W) matrix exists.

Taps that fall off the map, and votes whose landing point is not finite, are
routed to one extra "dump" segment that is sliced away, so no index is ever
out of range and nothing leaks into real pixels.

Shapes: B batch, H x W map size, J heatmap channels, E voting edges,
T output maps, K taps per vote (4 bilinear, kf*kf Gaussian).
"""

import tensorflow as tf

from mdn_tf.ops import portable_math


def _axis_taps(landing, config, size):
    """1-D tap positions and weights along one axis.

    Args:
        landing: `[B, H, W, E]` landing coordinate along this axis.
        config: the resolved `VotingConfig`.
        size: map size along this axis (scalar tensor, same dtype).

    Returns:
        positions `[B, H, W, E, k]` (float, integral values) and weights
        `[B, H, W, E, k]`; k = 2 (bilinear) or kf (Gaussian).
    """
    dtype = landing.dtype
    landing = landing[..., None]
    if config.kernel == "bilinear":
        # Floor has no gradient in TensorFlow, so d(frac)/d(landing) = 1 and
        # the weights below differentiate to -1/+1: the one-sided derivative
        # at integer landings, as in every bilinear sampler.
        origin = tf.floor(landing)
        frac = landing - origin
        positions = origin + tf.constant([0.0, 1.0], dtype)
        weights = tf.concat([1.0 - frac, frac], axis=-1)
    else:
        centre = tf.floor(landing + 0.5)
        steps = tf.range(-config.radius, config.radius + 1, dtype=dtype)
        positions = centre + steps
        distance = positions - landing
        weights = tf.exp(-tf.square(distance) / (2.0 * config.sigma**2))
    inside = (positions >= 0) & (positions < size)
    return positions, weights, inside


def _noisy_or(values, segment_ids, num_segments):
    """m = 1 - prod(1 - v) per segment, with an exact gradient.

    The product is a log-space sum over non-zero factors plus a count of
    zero factors, so a factor 1 - v = 0 (a certain vote) gives m = 1 and a
    finite gradient: d m / d v_i is the product of the *other* factors,
    which is recovered from the count instead of dividing by 1 - v_i.
    """

    @tf.custom_gradient
    def combine(values):
        factors = 1.0 - values
        is_zero = tf.equal(factors, 0.0)
        log_factors = portable_math.log1p(-tf.where(is_zero, tf.zeros_like(values), values))
        log_product = portable_math.segment_sum(log_factors, segment_ids, num_segments)
        zero_count = portable_math.segment_sum(
            tf.cast(is_zero, values.dtype), segment_ids, num_segments
        )
        # expm1 keeps small probabilities exact where 1 - exp(.) would cancel
        # (portable_math: Log/Exp-only forms inside ONNX and OpenVINO exports).
        result = tf.where(zero_count > 0, tf.ones_like(log_product),
                          -portable_math.expm1(log_product))

        def grad(upstream):
            log_product_i = tf.gather(log_product, segment_ids)
            zeros_i = tf.gather(zero_count, segment_ids)
            others = tf.where(
                is_zero,
                tf.where(zeros_i == 1, tf.exp(log_product_i), tf.zeros_like(values)),
                tf.where(zeros_i == 0, tf.exp(log_product_i - log_factors), tf.zeros_like(values)),
            )
            return tf.gather(upstream, segment_ids) * others

        return result, grad

    return combine(values)


def _max(values, segment_ids, num_segments):
    """m = max(0, max v) per segment; the gradient goes to the winning taps.

    Taps outside a vote's kernel have K = 0, so the maximum over all votes
    is never below 0, and a map with no vote is 0. Ties share the gradient
    equally; m = 0 passes no gradient (every tap is at the kink there).
    """

    @tf.custom_gradient
    def combine(values):
        best = portable_math.segment_max(values, segment_ids, num_segments)

        def grad(upstream):
            best_i = tf.gather(best, segment_ids)
            wins = tf.equal(values, best_i) & (best_i > 0)
            win_count = tf.math.unsorted_segment_sum(
                tf.cast(wins, values.dtype), segment_ids, num_segments
            )
            share = tf.math.divide_no_nan(
                tf.gather(upstream, segment_ids), tf.gather(win_count, segment_ids)
            )
            return tf.where(wins, share, tf.zeros_like(values))

        return best, grad

    return combine(values)


def vote_tf(heatmaps, offsets_x, offsets_y, config):
    """Votes with stock TensorFlow ops.

    Args:
        heatmaps: `[B, H, W, J]` float32 or float64.
        offsets_x: `[B, H, W, E]`, same dtype.
        offsets_y: `[B, H, W, E]`, same dtype.
        config: a `VotingConfig` resolved for J (`config.for_channels(J)`).

    Returns:
        `[B, H, W, T]` maps in the input dtype.
    """
    dtype = heatmaps.dtype
    shape = tf.shape(heatmaps)
    batch, height, width = shape[0], shape[1], shape[2]
    num_targets = config.num_targets
    num_segments = batch * height * width * num_targets
    if not config.sources:
        return tf.zeros(tf.stack([batch, height, width, num_targets]), dtype)

    confidences = heatmaps
    if config.combine == "noisy_or":
        confidences = tf.clip_by_value(confidences, 0.0, 1.0)
    confidences = tf.gather(confidences, list(config.sources), axis=-1)  # [B,H,W,E]

    height_f = tf.cast(height, dtype)
    width_f = tf.cast(width, dtype)
    column = tf.cast(tf.range(width), dtype)[None, None, :, None]
    row = tf.cast(tf.range(height), dtype)[None, :, None, None]
    landing_x = column + config.displacement_scale * offsets_x
    landing_y = row + config.displacement_scale * offsets_y

    # A vote that cannot touch the map is dropped before any index exists:
    # this also keeps NaN, inf and 1e30 away from the float->int cast.
    # R = kf // 2 for Gaussian, 1 for bilinear (a landing at exactly -1 still
    # has a zero-weight tap on column/row 0 that carries offset gradient).
    reach = float((config.radius if config.kernel == "gaussian" else 1) + 1)
    valid = (
        tf.math.is_finite(landing_x)
        & tf.math.is_finite(landing_y)
        & (landing_x > -reach)
        & (landing_x < width_f + reach)
        & (landing_y > -reach)
        & (landing_y < height_f + reach)
    )
    landing_x = tf.where(valid, landing_x, tf.zeros_like(landing_x))
    landing_y = tf.where(valid, landing_y, tf.zeros_like(landing_y))

    tap_x, weight_x, inside_x = _axis_taps(landing_x, config, width_f)
    tap_y, weight_y, inside_y = _axis_taps(landing_y, config, height_f)
    # Outer products over the two axes: [B, H, W, E, ky, kx].
    weights = weight_y[..., :, None] * weight_x[..., None, :]
    inside = inside_y[..., :, None] & inside_x[..., None, :] & valid[..., None, None]
    values = weights * confidences[..., None, None]

    # Flat index of output pixel (b, ty, tx, target) in a [B, H, W, T] map.
    tap_x = tf.cast(tf.where(inside_x, tap_x, tf.zeros_like(tap_x)), tf.int32)
    tap_y = tf.cast(tf.where(inside_y, tap_y, tf.zeros_like(tap_y)), tf.int32)
    image = tf.range(batch)[:, None, None, None, None]
    target = tf.constant(config.targets, tf.int32)[:, None, None]  # [E, 1, 1]
    pixel_y = image * height + tap_y  # [B, H, W, E, ky]
    flat = (pixel_y[..., :, None] * width + tap_x[..., None, :]) * num_targets + target
    segment_ids = tf.where(inside, flat, num_segments)

    values = tf.reshape(values, [-1])
    segment_ids = tf.reshape(segment_ids, [-1])
    total_segments = num_segments + 1  # the last one collects dropped taps
    if config.combine == "additive":
        combined = portable_math.segment_sum(values, segment_ids, total_segments)
    elif config.combine == "noisy_or":
        combined = _noisy_or(values, segment_ids, total_segments)
    else:
        combined = _max(values, segment_ids, total_segments)
    return tf.reshape(combined[:num_segments], tf.stack([batch, height, width, num_targets]))
