"""The MDN target codec: keypoints -> training targets, and maps -> keypoints.

Encoding and decoding live together (as in mmpose's codecs) so that a
round-trip test ties them: targets voted by `MassDisplacement` and decoded
land back on the keypoints.

All targets live at output-map resolution (H x W, e.g. 64 x 64 for a 256
input with stride 4); pixel (row i, col j) is the point p = (x=j, y=i).
For joints x_j (map coordinates) that are annotated and inside the crop:

(a) Heatmaps, for binary cross-entropy: h_j(p) = 1 if |p - x_j| <= eps_c.
(b) Displacements (the paper's Eq. 3), one channel per voting edge
    e = (j -> k) of `mdn_tf.skeleton.voting_edges`, defined on the
    eps_c-vicinity of the *source* joint j:

        o_e(p) = (x_k - p) / d_e    where |p - x_j| <= eps_c,

    with d_e = eps_c for a within-part edge (j == k) and d_e = max(H, W) (the
    map size) for a cross-part edge; elsewhere o_e = 0 and the mask is 0.
(b') Gather displacements, for the STN baseline (`displacements="gather"`):
    a backward warp reads, at output pixel p, the source map at p + d_e o_e(p).
    Reading Eq. 3's scatter targets would copy the joint's peak onto every
    pixel of the vicinity. The gather target magnifies the vicinity of the
    *target* joint k about its centre by lambda = eps_c / eps_m, reading the
    source joint's vicinity:

        o_e(p) = (x_j + lambda (p - x_k) - p) / d_e    where |p - x_k| <= eps_c,

    so a pixel within eps_m of x_k reads inside the eps_c disk of x_j and one
    farther out reads outside it: the warped disk of radius eps_c becomes a
    disk of radius eps_m (within-part: o_e(p) = (lambda - 1)(p - x_j) / eps_c).
(c) Final targets of the voted maps, chosen with the rule by
    `mdn_tf.final_supervision.FinalSupervision`: "voted", the targets (a)
    and (b) voted like the model (rule, kernel, edges), which a perfect
    network reproduces exactly; or the paper's forms, a binary disk of
    radius eps_m ("disk", noisy-OR and max) or a Gaussian exp(-|p - x_k|^2 /
    2 sigma^2) with peak 1 ("gaussian", additive).

How the normalisation reaches the voting layer: the layer has one scalar
`displacement_scale`, and an edge list may mix within- and cross-part edges,
so the codec exposes `edge_normalisers()`, the `[E]` vector of d_e. The
model multiplies its predicted (normalised) offsets by it before voting and
calls the layer with `displacement_scale=1.0`:

    votes = MassDisplacement(edges=codec.edges)(
        heatmaps, offsets_x * codec.edge_normalisers(),
        offsets_y * codec.edge_normalisers())

(For within-part edges only, `displacement_scale=eps_c` is equivalent.) A
vote from p then lands at p + d_e * o_e(p) = x_k, the layer's convention.

Missing or out-of-crop joints get weight 0: their heatmap and final maps are
all zero, `joint_weights` is 0, and every edge touching them has mask 0.

Shapes: H, W map size, J joints, E voting edges.
"""

import numpy as np
import tensorflow as tf

from mdn_tf.skeleton import VOTING_MODES, get_skeleton, voting_edges

HEATMAP_RADIUS = 3.0  # eps_c in map pixels: 12 input pixels at stride 4
FINAL_RADIUS = 1.0  # eps_m in map pixels
FINAL_SIGMA = 1.0  # Gaussian final-target width in map pixels
FINAL_TARGETS = ("disk", "gaussian", "voted")
DISPLACEMENTS = ("scatter", "gather")


class MDNCodec:
    """Encodes keypoints into MDN targets and decodes voted maps into keypoints.

    Args:
        skeleton: a `Skeleton` or its name ("mpii", "coco").
        map_size: `(H, W)` of the output maps. Defaults to (64, 64).
        mode: "within_part" or "cross_part" voting edges. Defaults to
            "cross_part".
        heatmap_radius: eps_c, radius of the heatmap disks and of the region
            where displacements are defined, in map pixels. Defaults to 3.0.
        final_target: "disk" (binary, radius eps_m; the paper's noisy-OR
            target) or "gaussian" (the paper's additive target). Defaults to
            "disk". Ignored when `final_supervision` is given.
        final_radius: eps_m in map pixels. Defaults to 1.0.
        final_sigma: Gaussian standard deviation in map pixels. Defaults to 1.0.
        displacements: "scatter" (Eq. 3, for voting) or "gather" (for the
            STN's backward warp, (b') above). Defaults to None: "gather"
            when `final_supervision` warps (`warp=True`), else "scatter".
        final_supervision: a `FinalSupervision`: the rule whose final target
            the codec builds ("voted": heatmap and displacement targets voted
            with its rule and kernel along `edges`). Defaults to None.

    Example:

    >>> codec = MDNCodec("mpii", map_size=(64, 64))
    >>> keypoints = np.full((16, 2), 30.0, "float32")
    >>> targets = codec.encode(keypoints, np.ones(16, "float32"))
    >>> targets["offsets_x"].shape
    TensorShape([64, 64, 31])
    """

    def __init__(
        self,
        skeleton,
        map_size=(64, 64),
        mode="cross_part",
        heatmap_radius=HEATMAP_RADIUS,
        final_target="disk",
        final_radius=FINAL_RADIUS,
        final_sigma=FINAL_SIGMA,
        final_supervision=None,
        displacements=None,
    ):
        self.skeleton = get_skeleton(skeleton)
        if final_supervision is not None:
            final_target = final_supervision.codec_target
        if displacements is None:
            warps = final_supervision is not None and final_supervision.warp
            displacements = "gather" if warps else "scatter"
        if len(map_size) != 2 or any(int(s) != s or s <= 0 for s in map_size):
            raise ValueError(
                f"map_size must be a (height, width) pair of positive integers. "
                f"Received: map_size={map_size!r}"
            )
        if displacements not in DISPLACEMENTS:
            raise ValueError(f"displacements must be one of {DISPLACEMENTS}. "
                             f"Received: displacements={displacements!r}")
        if mode not in VOTING_MODES:
            raise ValueError(f"mode must be one of {VOTING_MODES}. Received: mode={mode!r}")
        if final_target not in FINAL_TARGETS:
            raise ValueError(
                f"final_target must be one of {FINAL_TARGETS}. "
                f"Received: final_target={final_target!r}"
            )
        for name, value in (("heatmap_radius", heatmap_radius),
                            ("final_radius", final_radius), ("final_sigma", final_sigma)):
            if not value > 0:
                raise ValueError(f"{name} must be positive. Received: {name}={value!r}")
        if final_target == "voted" and final_supervision is None:
            raise ValueError(
                'final_target="voted" needs final_supervision (the rule and kernel to vote '
                "with). Received: final_supervision=None"
            )
        self.map_size = (int(map_size[0]), int(map_size[1]))
        self.mode = mode
        self.heatmap_radius = float(heatmap_radius)
        self.final_target = final_target
        self.final_radius = float(final_radius)
        self.final_sigma = float(final_sigma)
        self.final_supervision = final_supervision
        self.displacements = displacements
        self.edges = voting_edges(self.skeleton, mode)

    @property
    def num_joints(self):
        return self.skeleton.num_joints

    @property
    def num_edges(self):
        return len(self.edges)

    def edge_normalisers(self):
        """Returns d_e `[E]` float32: eps_c for j -> j edges, max(H, W) for j -> k."""
        size = float(max(self.map_size))
        return np.array(
            [self.heatmap_radius if s == t else size for s, t in self.edges], np.float32
        )

    def joint_weights(self, keypoints, visibility):
        """`[J]` float32: 1 for annotated joints inside the map (half a pixel of slack)."""
        keypoints = tf.convert_to_tensor(keypoints, tf.float32)
        height, width = self.map_size
        inside = (
            (keypoints[:, 0] >= -0.5) & (keypoints[:, 0] <= width - 0.5)
            & (keypoints[:, 1] >= -0.5) & (keypoints[:, 1] <= height - 0.5)
        )
        return tf.where(inside, tf.cast(visibility, tf.float32), 0.0)

    def encode(self, keypoints, visibility):
        """Builds the targets of one person.

        Args:
            keypoints: `[J, 2]` (x, y) in map pixels.
            visibility: `[J]`, > 0 for annotated joints.

        Returns:
            A dict of float32 tensors: "heatmaps" `[H, W, J]`, "offsets_x" and
            "offsets_y" `[H, W, E]` (normalised by d_e), "offset_weights"
            `[H, W, E]`, "final" `[H, W, J]` and "joint_weights" `[J]`.
        """
        keypoints = tf.convert_to_tensor(keypoints, tf.float32, name="keypoints")
        weights = self.joint_weights(keypoints, visibility)
        height, width = self.map_size
        ys, xs = tf.meshgrid(
            tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij"
        )
        dx = keypoints[:, 0] - xs[..., None]  # [H, W, J]: joint minus pixel
        dy = keypoints[:, 1] - ys[..., None]
        dist2 = dx * dx + dy * dy
        disk = tf.cast(dist2 <= self.heatmap_radius ** 2, tf.float32) * weights
        sources = [s for s, _ in self.edges]
        targets = [t for _, t in self.edges]
        norm = tf.constant(self.edge_normalisers())
        if self.displacements == "scatter":
            mask = tf.gather(disk, sources, axis=-1) * tf.gather(weights, targets)
            pixels_x = tf.gather(dx, targets, axis=-1) * mask
            pixels_y = tf.gather(dy, targets, axis=-1) * mask
        else:  # gather: x_j + lambda (p - x_k) - p = (x_j - x_k) - (lambda - 1) (x_k - p)
            mask = tf.gather(disk, targets, axis=-1) * tf.gather(weights, sources)
            magnify = self.heatmap_radius / self.final_radius - 1.0
            between = tf.gather(keypoints, sources) - tf.gather(keypoints, targets)  # [E, 2]
            pixels_x = (between[:, 0] - magnify * tf.gather(dx, targets, axis=-1)) * mask
            pixels_y = (between[:, 1] - magnify * tf.gather(dy, targets, axis=-1)) * mask
        if self.final_target == "disk":
            final = tf.cast(dist2 <= self.final_radius ** 2, tf.float32)
        elif self.final_target == "gaussian":
            final = tf.exp(-dist2 / (2.0 * self.final_sigma ** 2))
        else:  # what a network that outputs exactly (a) and (b) votes
            final = self.final_supervision.vote(
                disk[None], pixels_x[None], pixels_y[None], self.edges, self.num_joints)[0]
        return {
            "heatmaps": disk,
            "offsets_x": pixels_x / norm,
            "offsets_y": pixels_y / norm,
            "offset_weights": mask,
            "final": final * weights,
            "joint_weights": weights,
        }

    def decode(self, maps):
        """Finds each joint in `[..., H, W, J]` maps (NumPy).

        The arg-max pixel is refined to the centroid of the non-negative
        values in its 3 x 3 neighbourhood, which recovers the exact landing
        point of bilinear votes.

        Returns:
            keypoints `[..., J, 2]` (x, y) in map pixels and scores `[..., J]`
            (the map value at the arg-max).
        """
        maps = np.asarray(maps, dtype=np.float32)
        if maps.ndim < 3:
            raise ValueError(
                f"maps must have shape [..., H, W, J]. Received: shape {list(maps.shape)}"
            )
        lead, (height, width, joints) = maps.shape[:-3], maps.shape[-3:]
        flat = np.moveaxis(maps.reshape((-1, height, width, joints)), -1, 1)
        flat = flat.reshape(-1, height, width)  # [N*J, H, W]
        index = flat.reshape(len(flat), -1).argmax(axis=1)
        rows, cols = np.divmod(index, width)
        scores = flat[np.arange(len(flat)), rows, cols]
        padded = np.pad(np.maximum(flat, 0.0), ((0, 0), (1, 1), (1, 1)))
        offsets = np.arange(-1, 2)
        window = padded[
            np.arange(len(flat))[:, None, None],
            rows[:, None, None] + 1 + offsets[None, :, None],
            cols[:, None, None] + 1 + offsets[None, None, :],
        ]  # [N*J, 3, 3]
        mass = window.sum(axis=(1, 2))
        safe = np.where(mass > 0, mass, 1.0)
        x = cols + np.where(mass > 0, (window.sum(axis=1) @ offsets) / safe, 0.0)
        y = rows + np.where(mass > 0, (window.sum(axis=2) @ offsets) / safe, 0.0)
        keypoints = np.stack([x, y], axis=-1).astype(np.float32)
        return (
            keypoints.reshape(lead + (joints, 2)),
            scores.reshape(lead + (joints,)),
        )
