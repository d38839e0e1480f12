"""Is a perfect network the minimum of the training losses? A measurement.

A network whose outputs equal the data codec's own targets (heatmaps = the
eps_c disks, displacements = Eq. 3) must sit at the minimum of every loss
term, or training pulls it away from what the other terms teach. This module
builds such outputs for random people, perturbs them the ways that matter
(heatmaps scaled, displacements scaled, spread or shifted), votes each with
`MassDisplacement` (or warps it with `BilinearWarp`, for the STN) exactly as
`build_pose_model` does, and returns the
final-map and total loss of each. `training/final_loss_table.py` prints the
table for every rule x kernel x map size; the tests assert the invariant.

Shapes: B people, H x W map size, J joints, E edges.
"""

import numpy as np
import tensorflow as tf

from mdn_tf import losses
from mdn_tf.data.targets import MDNCodec
from mdn_tf.layers import MassDisplacement
from mdn_tf.models.stn_warp import BilinearWarp

# name -> (heatmap factor, displacement factor, displacement noise std in map
# pixels, shift of every vote in map pixels)
PERTURBATIONS = {
    "perfect": (1.0, 1.0, 0.0, 0.0),
    "heatmaps x 0.5": (0.5, 1.0, 0.0, 0.0),
    "heatmaps x 0.1": (0.1, 1.0, 0.0, 0.0),
    "heatmaps x 0.03": (0.03, 1.0, 0.0, 0.0),
    "offsets x 0 (no focusing)": (1.0, 0.0, 0.0, 0.0),
    "offsets x 0.5": (1.0, 0.5, 0.0, 0.0),
    "offsets x 1.5": (1.0, 1.5, 0.0, 0.0),
    "offsets spread (0.5 px)": (1.0, 1.0, 0.5, 0.0),
    "votes shifted 1 px": (1.0, 1.0, 0.0, 1.0),
}
# Heatmap logits of a perfect network: sigmoid(+-LOGIT) ~ 1 - 2e-9 or 2e-9.
LOGIT = 20.0


def random_people(codec, count, seed):
    """`count` people's codec targets, all 16 (or 17) joints inside the map."""
    rng = np.random.default_rng(seed)
    height, width = codec.map_size
    margin = codec.heatmap_radius + 1.0
    people = []
    for _ in range(count):
        keypoints = np.stack([rng.uniform(margin, width - 1 - margin, codec.num_joints),
                              rng.uniform(margin, height - 1 - margin, codec.num_joints)], -1)
        people.append(codec.encode(keypoints.astype("float32"),
                                   np.ones(codec.num_joints, "float32")))
    return {key: tf.stack([p[key] for p in people]) for key in people[0]}


def perturbation_losses(supervision, map_size=(32, 32), mode="within_part", people=4, seed=0,
                        heatmap_radius=3.0, perturbations=PERTURBATIONS):
    """Final-map and total loss of the perfect network and of its perturbations.

    Args:
        supervision: a `FinalSupervision` (rule, kernel, target form).
        map_size: `(H, W)`. Defaults to (32, 32).
        mode: "within_part" or "cross_part" edges. Defaults to "within_part".
        people: random people per measurement. Defaults to 4.
        seed: NumPy seed of the joint positions and noise. Defaults to 0.
        heatmap_radius: eps_c in map pixels. Defaults to 3.0.
        perturbations: `{name: (heatmap factor, offset factor, noise px,
            shift px)}`. Defaults to `PERTURBATIONS`.

    Returns:
        `{name: {"final": mean final-map loss, "total": heatmap + offset +
        final loss, "peak": mean of the voted maps' per-joint maxima}}`.
    """
    codec = MDNCodec("mpii", map_size=map_size, mode=mode, heatmap_radius=heatmap_radius,
                     final_supervision=supervision)
    targets = random_people(codec, people, seed)
    normalisers = tf.constant(codec.edge_normalisers())
    if supervision.warp:  # the STN baseline
        layer = BilinearWarp(combine=supervision.combine, edges=codec.edges,
                             num_targets=codec.num_joints)
    else:
        layer = MassDisplacement(
            combine=supervision.combine, kernel=supervision.kernel,
            kernel_size=supervision.kernel_size, sigma=supervision.sigma, edges=codec.edges,
            num_targets=codec.num_joints,
        )
    loss = supervision.loss()
    final_target = losses.pack_targets(targets, ["final"])["final"]
    joint_weights = targets["joint_weights"][:, None, None, :]
    mask = targets["offset_weights"]
    rng = np.random.default_rng(seed + 1)
    results = {}
    for name, (heat, factor, noise, shift) in perturbations.items():
        confidences = targets["heatmaps"] * heat
        offsets = []
        for key in ("offsets_x", "offsets_y"):
            # In pixels: Eq. 3's targets times d_e, then perturbed inside the mask.
            pixels = targets[key] * normalisers * factor
            pixels += mask * (rng.normal(0.0, noise, pixels.shape).astype("float32") + shift)
            offsets.append(pixels / normalisers)
        maps = layer(confidences, offsets[0] * normalisers, offsets[1] * normalisers)
        final = float(tf.reduce_mean(loss(final_target, maps)))
        logits = tf.math.log(tf.clip_by_value(confidences, 1e-9, 1.0)) - tf.math.log(
            tf.clip_by_value(1.0 - confidences, 1e-9, 1.0))
        logits = tf.clip_by_value(logits, -LOGIT, LOGIT)
        heatmap = float(tf.reduce_mean(losses.heatmap_bce(targets["heatmaps"], logits,
                                                          joint_weights)))
        offset = sum(float(tf.reduce_mean(losses.masked_huber(targets[key], value, mask)))
                     for key, value in zip(("offsets_x", "offsets_y"), offsets))
        peak = float(tf.reduce_mean(tf.reduce_max(maps, axis=(1, 2))))
        results[name] = {"final": final, "total": heatmap + offset + final, "peak": peak}
    return results
