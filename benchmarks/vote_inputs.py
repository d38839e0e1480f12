"""The voting benchmarks' sizes, cases and inputs, in NumPy only.

Shared by `bench_mass_displacement.py` (CPU, TensorFlow) and
`gpu/keras_torch_gpu.py` (a GPU machine without TensorFlow), so both time
the same votes. "Converged" votes are what a trained MDN casts (see
`converge_votes`); the CUDA harness (`harness_problems.h`,
MakeVotesConverge) uses the same recipe and numbers.
"""

import numpy as np

B, J, H, W = 32, 16, 64, 64
# A 16-joint tree (MPII's skeleton), as (source, target) voting edges.
TREE_EDGES = [(0, 1), (1, 2), (2, 6), (3, 6), (4, 3), (5, 4), (6, 7), (7, 8), (8, 9),
              (10, 11), (11, 12), (12, 7), (13, 7), (14, 13), (15, 14)]
CASES = {
    "bilinear, within-part": dict(kernel="bilinear", edges=None),
    "gaussian kf=5, within-part": dict(kernel="gaussian", kernel_size=5, edges=None),
    "gaussian kf=13, within-part": dict(kernel="gaussian", kernel_size=13, edges=None),
    "bilinear, cross-part (16 self + 15 tree)": dict(
        kernel="bilinear", edges=[(j, j) for j in range(J)] + TREE_EDGES),
}
# eps_c in map pixels: mdn_tf.data.targets.HEATMAP_RADIUS (tests/test_benchmarks.py
# checks they agree; that module needs TensorFlow, this one must not).
HEATMAP_RADIUS = 3.0
# A trained heatmap's logit: 0 on the rim of the eps_c disk, rising by
# HEAT_SLOPE per pixel inwards (c = 0.9975 at the joint), floored at a
# confident background (c = 3.4e-4).
HEAT_SLOPE = 2.0
BACKGROUND_LOGIT = -8.0


def converge_votes(rng, offsets_x, offsets_y, config, radius=HEATMAP_RADIUS):
    """Heatmaps and offsets of a trained MDN on random joints.

    Joint j of batch item b sits at a uniform random point of the map.
    Pixels within `radius` (eps_c) of edge e's source joint get offsets that
    land exactly on e's target joint, as the training targets define them
    (mdn_tf/data/targets.py); the other offsets, which the loss leaves free,
    keep their random values. So about 29 votes per edge land on the same
    1-4 pixels, where GPU atomics contend and random votes never do.

    Returns:
        heatmaps `[B, H, W, J]`, offsets_x and offsets_y `[B, H, W, E]`, float32.
    """
    batch = offsets_x.shape[0]
    joints = rng.uniform(0.0, 1.0, (batch, J, 2)) * [W - 1, H - 1]  # (x, y) per (b, j)
    rows, columns = np.mgrid[0:H, 0:W]
    dx = joints[:, None, None, :, 0] - columns[None, :, :, None]  # [B, H, W, J]: joint - pixel
    dy = joints[:, None, None, :, 1] - rows[None, :, :, None]
    distance2 = dx * dx + dy * dy
    logit = np.maximum(HEAT_SLOPE * (radius - np.sqrt(distance2)), BACKGROUND_LOGIT)
    heatmaps = 1.0 / (1.0 + np.exp(-logit))
    sources, targets = list(config.sources), list(config.targets)
    near = distance2[..., sources] <= radius * radius  # inclusive, as in targets.py
    scale = config.displacement_scale
    offsets_x = np.where(near, dx[..., targets] / scale, offsets_x)
    offsets_y = np.where(near, dy[..., targets] / scale, offsets_y)
    return [x.astype("float32") for x in (heatmaps, offsets_x, offsets_y)]


def make_inputs(batch, num_edges, seed=0, votes="random", config=None):
    """NumPy `[heatmaps, offsets_x, offsets_y]` and an upstream gradient.

    `votes="converged"` needs the resolved `config` (edges, scale).
    """
    rng = np.random.default_rng(seed)
    heatmaps = rng.uniform(0.0, 1.0, (batch, H, W, J)).astype("float32")
    offsets = rng.normal(0.0, 3.0, (2, batch, H, W, num_edges)).astype("float32")
    upstream = rng.normal(0.0, 1.0, (batch, H, W, J)).astype("float32")
    if votes == "converged":
        heatmaps, *offsets = converge_votes(rng, offsets[0], offsets[1], config)
    return [heatmaps, offsets[0], offsets[1]], upstream
