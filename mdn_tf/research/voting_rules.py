"""One trained network, scored with many voting rules (post-hoc rows of Table 1).

Voting owns no weights, so a network trained with heatmap and displacement
losses can be evaluated with any combine rule and kernel. Running the
network once per batch and voting its heatmaps and displacements with every
rule gives the same keypoints as rebuilding the model per rule (tested),
at the cost of one network pass instead of one per rule.

Shapes: N people, H x W map size, J joints, E edges, R rules.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from mdn_tf.data.pipeline import build_dataset
from mdn_tf.evaluation.pckh import mpii_pckh
from mdn_tf.inference.decode import decode_keypoints
from mdn_tf.inference.flip_test import unflip_maps
from mdn_tf.inference.geometry import maps_to_image
from mdn_tf.models.builder import DEFAULT_EPSILON_C, OUTPUT_STRIDE, displacement_scales
from mdn_tf.ops.mass_displacement import mass_displacement
from mdn_tf.skeleton import get_skeleton


NO_VOTING = "none"


@dataclasses.dataclass(frozen=True)
class VotingRule:
    """A combine rule and kernel: what `MassDisplacement` is built with.

    `combine="none"` (`NO_VOTING`) scores the network's own sigmoid
    heatmaps, without voting.
    """

    combine: str
    kernel: str = "bilinear"
    kernel_size: int = 5
    sigma: float | None = None  # None: kernel_size / 6

    @property
    def name(self):
        if self.combine == NO_VOTING:
            return NO_VOTING
        kernel = "bilinear" if self.kernel == "bilinear" else f"kf={self.kernel_size}"
        if self.kernel == "gaussian" and self.sigma is not None:
            kernel += f",sigma={self.sigma:.4g}"
        return f"{self.combine}/{kernel}"


def predict_with_voting_rules(model, records, skeleton, rules, edges,
                              epsilon_c=DEFAULT_EPSILON_C, batch_size=32, flip_test=True,
                              quarter_offset=True):
    """Keypoints of every record under every voting rule.

    Args:
        model: a `posthoc`, `mdn` or `stn` pose model (outputs "heatmaps"
            logits, "offsets_x", "offsets_y" in codec units).
        records: `PoseRecord`s.
        skeleton: "mpii", "coco" or a `Skeleton`.
        rules: a sequence of `VotingRule`.
        edges: the model's `(source, target)` voting edges.
        epsilon_c: the codec's vicinity radius (within-part displacement
            unit). Defaults to 3.0.
        batch_size: crops per step. Defaults to 32.
        flip_test: average with the mirrored crops. Defaults to True.
        quarter_offset: quarter-pixel decoding refinement. Defaults to True.

    Returns:
        `{rule.name: keypoints [N, J, 2]}` in original-image pixels.

    Raises:
        ValueError: when the model has no displacement outputs.
    """
    skeleton = get_skeleton(skeleton)
    if "offsets_x" not in model.output_names:
        raise ValueError("model must predict displacements (variant posthoc or mdn). "
                         f"Received: outputs {model.output_names}")
    rules = list(rules)
    input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
    map_size = (input_size[0] // OUTPUT_STRIDE, input_size[1] // OUTPUT_STRIDE)
    scales_x, scales_y = displacement_scales(edges, *map_size, epsilon_c)
    num_targets = 1 + max(target for _, target in edges)
    flip_permutation = skeleton.flip_permutation()

    @tf.function
    def predict(images, inverse):
        crops = tf.concat([images, tf.reverse(images, axis=[2])], axis=0) if flip_test else images
        outputs = model(crops, training=False)
        heatmaps = tf.sigmoid(tf.cast(outputs["heatmaps"], tf.float32))
        pixels_x = tf.cast(outputs["offsets_x"], tf.float32) * scales_x
        pixels_y = tf.cast(outputs["offsets_y"], tf.float32) * scales_y
        keypoints = []
        for rule in rules:
            if rule.combine == NO_VOTING:
                maps = heatmaps
            else:
                maps = mass_displacement(
                    heatmaps, pixels_x, pixels_y, combine=rule.combine, kernel=rule.kernel,
                    kernel_size=rule.kernel_size, sigma=rule.sigma, edges=edges,
                    num_targets=num_targets,
                )
            if flip_test:
                original, mirrored = tf.split(maps, 2, axis=0)
                maps = 0.5 * (original + unflip_maps(mirrored, flip_permutation))
            points, _ = decode_keypoints(maps, quarter_offset)
            keypoints.append(maps_to_image(points, tf.cast(inverse, tf.float32),
                                           float(OUTPUT_STRIDE)))
        return tf.stack(keypoints)

    dataset = build_dataset(records, skeleton, is_training=False, batch_size=batch_size,
                            input_size=input_size, with_meta=True)
    keypoints = np.zeros((len(rules), len(records), skeleton.num_joints, 2), np.float64)
    for images, _, meta in dataset:
        index = meta["index"].numpy()
        keypoints[:, index] = predict(images, meta["inverse_transform"]).numpy()
    return {rule.name: keypoints[r] for r, rule in enumerate(rules)}


def evaluate_mpii_voting_rules(model, records, gt_file, rules, edges, **arguments):
    """PCKh of one network under every rule: `{rule.name: mpii_pckh result}`."""
    predictions = predict_with_voting_rules(model, records, "mpii", rules, edges, **arguments)
    return {name: mpii_pckh(points, gt_file) for name, points in predictions.items()}
