"""Training losses of Mass Displacement Networks (Neverova & Kokkinos, BMVC 2018).

Three terms, as in the paper (Sec. 3):

(a) `heatmap_bce`: pixelwise binary cross-entropy of the heatmap *logits*
    against binary disks of radius epsilon_c (computed from logits, so it
    never sees log(0));
(b) `masked_huber`: Huber loss on the displacements ox, oy, only inside the
    epsilon_c-vicinity mask of each edge's source joint;
(c) `final_map_loss`: on the voted (or warped) maps, binary cross-entropy
    for noisy-OR and max (probabilities clipped to `[eps, 1 - eps]`), mean
    squared error for additive. Which target goes with which rule (the
    codec's own targets voted like the model, or the paper's disks and
    Gaussians) is decided in one place, `mdn_tf.final_supervision`.

Each function returns one value per example (`[B]`); weights and masks
multiply per pixel and channel, so a missing joint (weight 0) contributes
nothing.

The loss functions and `Loss` classes are written in `keras.ops` and run on
every Keras backend; `pack_target` and `pack_targets` build the targets
inside the `tf.data` pipeline, which is TensorFlow on every backend.

For `model.compile`, the Keras `Loss` classes below take a *packed* target:
the target and its per-pixel weight concatenated on the channel axis
(`pack_target`), because a Keras loss only sees `(y_true, y_pred)`.
`build_losses` returns the `loss` and `loss_weights` dicts matching the
output names of `mdn_tf.models.build_pose_model`.

Shapes: B batch, H x W map size, J joints, E voting edges.
"""

import math

import keras
from keras import ops

COMBINES = ("noisy_or", "additive", "max")


def _per_example_mean(values, weights):
    """Sums weighted values per example and divides by the element count."""
    values = values if weights is None else values * ops.cast(weights, values.dtype)
    return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


def heatmap_bce(targets, logits, weights=None):
    """Binary cross-entropy of heatmap logits against disk targets.

    Args:
        targets: `[B, H, W, J]` in [0, 1] (binary disks).
        logits: `[B, H, W, J]` heatmap logits.
        weights: None, or weights broadcastable to `[B, H, W, J]` (e.g.
            `[B, 1, 1, J]` per-joint visibility). Defaults to None.

    Returns:
        `[B]` mean loss over pixels and joints.
    """
    logits = ops.cast(logits, "float32")
    targets = ops.cast(targets, "float32")
    # Each backend's stable form (TensorFlow: sigmoid_cross_entropy_with_logits).
    loss = ops.binary_crossentropy(targets, logits, from_logits=True)
    return _per_example_mean(loss, weights)


def masked_huber(targets, predictions, mask, delta=1.0):
    """Huber loss on displacements inside the vicinity mask.

    Args:
        targets: `[B, H, W, E]` displacement targets (codec units).
        predictions: `[B, H, W, E]` predicted displacements.
        mask: `[B, H, W, E]` (or broadcastable) weights, 1 inside the
            epsilon_c-vicinity of the edge's source joint, 0 elsewhere.
        delta: Huber threshold. Defaults to 1.0.

    Returns:
        `[B]` loss summed over masked pixels divided by their number (0 for
        an example with an empty mask).
    """
    predictions = ops.cast(predictions, "float32")
    targets = ops.cast(targets, "float32")
    mask = ops.broadcast_to(ops.cast(mask, "float32"), ops.shape(predictions))
    # Masked-out targets may hold anything (NaN included); never let them in,
    # neither into the value nor, through 0 * NaN, into the gradient.
    targets = ops.where(mask > 0, targets, predictions)
    error = ops.abs(predictions - targets)
    quadratic = ops.where(error <= delta, error, delta)
    loss = 0.5 * ops.square(quadratic) + delta * (error - quadratic)
    loss = ops.where(mask > 0, loss * mask, 0.0)
    batch = ops.shape(loss)[0]
    total = ops.sum(ops.reshape(loss, (batch, -1)), axis=-1)
    count = ops.sum(ops.reshape(mask, (batch, -1)), axis=-1)
    # A safe denominator: 0 / 0 must not reach the gradient of either branch.
    return ops.where(count > 0, total / ops.where(count > 0, count, 1.0), 0.0)


def _tangent_log(values, floor):
    """log(values) above `floor`, continued below it by its tangent at `floor`.

    The gradient is then at most 1 / floor and never zero, where a clipped
    log gives 1 / values (a million for a target pixel that no vote reaches
    yet) and zero below the clip.
    """
    above = values >= floor
    return ops.where(above, ops.log(ops.where(above, values, floor)),
                     math.log(floor) + (values - floor) / floor)


def final_map_loss(targets, maps, combine="noisy_or", weights=None, epsilon=1e-6, floor=None):
    """Loss on the final (voted or warped) maps.

    Args:
        targets: `[B, H, W, J]`: epsilon_m = 1 disks for noisy-OR and max,
            Gaussians for additive.
        maps: `[B, H, W, J]` final maps (probabilities for noisy-OR and max).
        combine: "noisy_or", "additive" or "max". Defaults to "noisy_or".
        weights: None or broadcastable to `[B, H, W, J]`. Defaults to None.
        epsilon: probabilities are clipped to `[epsilon, 1 - epsilon]`.
            Defaults to 1e-6.
        floor: None, or a bound on the cross-entropy's gradient: below
            `floor`, log(p) and log(1 - p) continue along their tangent, so
            no pixel contributes more than 1 / floor (noisy-OR, max).
            Defaults to None (clipped at `epsilon`).

    Returns:
        `[B]` mean binary cross-entropy (noisy-OR, max) or squared error
        (additive) over pixels and joints.

    Raises:
        ValueError: for an unknown `combine`.
    """
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {COMBINES}. Received: combine={combine!r}")
    maps = ops.cast(maps, "float32")
    targets = ops.cast(targets, "float32")
    if combine == "additive":
        loss = ops.square(maps - targets)
    elif floor is not None:
        loss = -(targets * _tangent_log(maps, floor)
                 + (1.0 - targets) * _tangent_log(1.0 - maps, floor))
    else:
        probabilities = ops.clip(maps, epsilon, 1.0 - epsilon)
        loss = -(
            targets * ops.log(probabilities)
            + (1.0 - targets) * ops.log1p(-probabilities)
        )
    return _per_example_mean(loss, weights)


def pack_target(target, weight=None):
    """Concatenates a target and its weight on the channel axis.

    Args:
        target: `[B, H, W, C]` (or `[H, W, C]` inside a `tf.data` map).
        weight: None (all ones) or broadcastable to `target`.

    Returns:
        `[..., 2C]`: channels `[:C]` the target, `[C:]` the weight.
    """
    import tensorflow as tf  # runs inside tf.data; imported here so the losses need no TF

    target = tf.convert_to_tensor(target, tf.float32)
    weight = tf.ones_like(target) if weight is None else tf.broadcast_to(
        tf.cast(weight, tf.float32), tf.shape(target)
    )
    return tf.concat([target, weight], axis=-1)


def pack_targets(targets, output_names):
    """Packs the data codec's targets for a model's outputs (`model.fit`'s y).

    Args:
        targets: a dict from `mdn_tf.data.targets.MDNCodec.encode` (one
            example) or a batch of them: "heatmaps", "offsets_x", "offsets_y",
            "offset_weights", "final", "joint_weights".
        output_names: the model's output names.

    Returns:
        A dict with one packed target per output that has one: heatmap-like
        outputs ("heatmaps", "stack_k_heatmaps") and "final" weighted by
        `joint_weights`, offsets masked by `offset_weights`.
    """
    import tensorflow as tf  # runs inside tf.data; imported here so the losses need no TF

    joint_weights = tf.convert_to_tensor(targets["joint_weights"], tf.float32)
    # [J] or [B, J] -> broadcastable over the map: [1, 1, J] or [B, 1, 1, J].
    joint_weights = tf.expand_dims(tf.expand_dims(joint_weights, -2), -2)
    packed = {}
    for name in output_names:
        if name == "heatmaps" or (name.startswith("stack_") and name.endswith("_heatmaps")):
            packed[name] = pack_target(targets["heatmaps"], joint_weights)
        elif name in ("offsets_x", "offsets_y"):
            packed[name] = pack_target(targets[name], targets["offset_weights"])
        elif name == "final":
            packed[name] = pack_target(targets["final"], joint_weights)
    return packed


def _unpack(y_true, y_pred):
    channels = ops.shape(y_pred)[-1]
    y_true = ops.cast(y_true, "float32")
    return y_true[..., :channels], y_true[..., channels:]


@keras.saving.register_keras_serializable(package="mdn_tf")
class HeatmapBCE(keras.losses.Loss):
    """`heatmap_bce` on a packed target (`pack_target(disks, weights)`)."""

    def __init__(self, name="heatmap_bce", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        targets, weights = _unpack(y_true, y_pred)
        return heatmap_bce(targets, y_pred, weights)


@keras.saving.register_keras_serializable(package="mdn_tf")
class MaskedHuber(keras.losses.Loss):
    """`masked_huber` on a packed target (`pack_target(offsets, mask)`).

    Args:
        delta: Huber threshold. Defaults to 1.0.
    """

    def __init__(self, delta=1.0, name="masked_huber", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not (isinstance(delta, (int, float)) and delta > 0):
            raise ValueError(f"delta must be a positive number. Received: delta={delta!r}")
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        targets, mask = _unpack(y_true, y_pred)
        return masked_huber(targets, y_pred, mask, self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@keras.saving.register_keras_serializable(package="mdn_tf")
class FinalMapLoss(keras.losses.Loss):
    """`final_map_loss` on a packed target (`pack_target(final, weights)`).

    Args:
        combine: "noisy_or", "additive" or "max". Defaults to "noisy_or".
        floor: see `final_map_loss`. Defaults to None.
    """

    def __init__(self, combine="noisy_or", floor=None, name="final_map_loss",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}. Received: combine={combine!r}")
        if floor is not None and not (isinstance(floor, (int, float)) and 0 < floor < 0.5):
            raise ValueError(f"floor must be None or a number in (0, 0.5). Received: floor={floor!r}")
        self.combine = combine
        self.floor = None if floor is None else float(floor)

    def call(self, y_true, y_pred):
        targets, weights = _unpack(y_true, y_pred)
        return final_map_loss(targets, y_pred, self.combine, weights, floor=self.floor)

    def get_config(self):
        return {**super().get_config(), "combine": self.combine, "floor": self.floor}


def build_losses(output_names, variant="mdn", combine="noisy_or", heatmap_weight=1.0,
                 offset_weight=1.0, final_weight=1.0, intermediate_weight=1.0,
                 huber_delta=1.0, final_floor=None, final_supervision=None):
    """Returns `(loss, loss_weights)` dicts for `model.compile`.

    Args:
        output_names: the model's output names (keys of its output dict).
        variant: "baseline", "posthoc", "stn" or "mdn"; the final-map loss is
            only used by the end-to-end variants (stn, mdn). Defaults to "mdn".
        combine: the model's combine rule. Defaults to "noisy_or".
        heatmap_weight: weight of (a) on "heatmaps". Defaults to 1.0.
        offset_weight: weight of (b) on each of "offsets_x", "offsets_y".
            For `stn` the targets are the codec's gather displacements
            (`MDNCodec(displacements="gather")`): Eq. 3's scatter targets
            would make the warp read the joint's peak from every pixel of
            the vicinity and spread it into a plateau. Defaults to 1.0.
        final_weight: weight of (c) on "final". Defaults to 1.0.
        intermediate_weight: weight of (a) on each "stack_k_heatmaps"
            (Hourglass intermediate supervision). Defaults to 1.0.
        huber_delta: Huber threshold of (b). Defaults to 1.0.
        final_floor: gradient bound of (c)'s cross-entropy (`floor` of
            `final_map_loss`). Defaults to None.
        final_supervision: the `FinalSupervision` whose target the data
            codec builds; its `combine` must be `combine`. Defaults to
            `FinalSupervision(combine)` (voted target).

    Returns:
        `(losses, loss_weights)`, keyed by output name; outputs without a
        loss are left out.

    Raises:
        ValueError: for an unknown variant or combine.
    """
    variants = ("baseline", "posthoc", "stn", "mdn")
    if variant not in variants:
        raise ValueError(f"variant must be one of {variants}. Received: variant={variant!r}")
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {COMBINES}. Received: combine={combine!r}")
    if final_supervision is not None and final_supervision.combine != combine:
        raise ValueError(
            f"final_supervision must be of the model's combine rule {combine!r}. "
            f"Received: final_supervision.combine={final_supervision.combine!r}"
        )
    losses, weights = {}, {}
    for name in output_names:
        if name == "heatmaps":
            losses[name], weights[name] = HeatmapBCE(), heatmap_weight
        elif name.startswith("stack_") and name.endswith("_heatmaps"):
            losses[name], weights[name] = HeatmapBCE(), intermediate_weight
        elif name in ("offsets_x", "offsets_y"):
            losses[name], weights[name] = MaskedHuber(huber_delta), offset_weight
        elif name == "final" and variant in ("stn", "mdn"):
            # The same loss for every final target form: the forms differ in
            # the target, which the codec builds (`FinalSupervision.codec_target`).
            losses[name] = FinalMapLoss(combine, floor=final_floor)
            weights[name] = final_weight
    return losses, weights
