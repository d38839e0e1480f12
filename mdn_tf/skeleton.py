"""Joint sets shared by data, models and evaluation: names, flip pairs, trees.

A `Skeleton` fixes the joint order of a dataset (the channel order of every
heatmap), which joints swap under a horizontal flip, and the kinematic tree
whose edges carry the cross-part votes of a Mass Displacement Network
(Neverova & Kokkinos, BMVC 2018, Sec. 3).

Shapes: J joints, E voting edges.

Example:

    from mdn_tf.skeleton import MPII, voting_edges
    edges = voting_edges(MPII, "cross_part")   # 31 (source, target) pairs
    MPII.flip_permutation()                     # [5, 4, 3, 2, 1, 0, 6, ...]
"""

import dataclasses

VOTING_MODES = ("within_part", "cross_part")


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """A named joint set with its left/right pairs and kinematic tree.

    Attributes:
        name: short identifier, "mpii" or "coco".
        joint_names: the J joint names, in channel order.
        flip_pairs: `((left, right), ...)` joint indices that swap under a
            horizontal flip; joints not listed map to themselves.
        tree: `((parent, child), ...)` the J - 1 edges of the kinematic tree,
            rooted at `root`, each parent listed before its children.
        root: index of the body-centre joint the tree hangs from.
        limbs: `((a, b), ...)` segments to draw; defaults to `tree`.
    """

    name: str
    joint_names: tuple
    flip_pairs: tuple
    tree: tuple
    root: int
    limbs: tuple = None

    def __post_init__(self):
        # A malformed skeleton would silently corrupt every target built from
        # it, so it is checked once here.
        num = len(self.joint_names)
        if self.limbs is None:
            object.__setattr__(self, "limbs", tuple(self.tree))
        if not 0 <= self.root < num:
            raise ValueError(
                f"root must index one of the {num} joints. Received: root={self.root}"
            )
        if len(self.tree) != num - 1:
            raise ValueError(
                f"tree must have J - 1 = {num - 1} edges. "
                f"Received: {len(self.tree)} edges"
            )
        reached = {self.root}
        for parent, child in self.tree:
            if parent not in reached or child in reached or not 0 <= child < num:
                raise ValueError(
                    f"tree must list edges from the root {self.root} outwards, "
                    f"each child once. Received: edge ({parent}, {child}) in "
                    f"tree={self.tree}"
                )
            reached.add(child)
        seen = [j for pair in self.flip_pairs for j in pair]
        if len(seen) != len(set(seen)) or any(not 0 <= j < num for j in seen):
            raise ValueError(
                "flip_pairs must be disjoint pairs of joint indices. "
                f"Received: flip_pairs={self.flip_pairs}"
            )

    @property
    def num_joints(self):
        """J, the number of joints."""
        return len(self.joint_names)

    def flip_permutation(self):
        """Returns `perm` with `perm[j]` the joint that j becomes when flipped.

        Flipping joint-indexed data is `flipped = data[..., perm]`; the
        permutation is its own inverse.
        """
        perm = list(range(self.num_joints))
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm

    def parents(self):
        """Returns the parent of each joint (-1 for the root), length J."""
        parent = [-1] * self.num_joints
        for p, c in self.tree:
            parent[c] = p
        return parent


MPII = Skeleton(
    name="mpii",
    joint_names=(
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle",
        "pelvis", "thorax", "upper_neck", "head_top",
        "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    tree=(
        (7, 6), (6, 2), (2, 1), (1, 0), (6, 3), (3, 4), (4, 5),
        (7, 8), (8, 9),
        (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
    ),
    root=7,
)

# COCO has no thorax or pelvis keypoint. The nose is the only keypoint on the
# body's mirror axis, so a tree rooted there is left/right symmetric (a flip
# maps tree edges onto tree edges, which test-time flip averaging of
# cross-part votes relies on), and its nose -> shoulder edges play the role
# of MPII's thorax -> shoulder edges. Hips hang from the shoulders (torso
# sides), as the COCO drawing skeleton links them.
COCO = Skeleton(
    name="coco",
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    tree=(
        (0, 1), (1, 3), (0, 2), (2, 4),
        (0, 5), (5, 7), (7, 9), (0, 6), (6, 8), (8, 10),
        (5, 11), (11, 13), (13, 15), (6, 12), (12, 14), (14, 16),
    ),
    root=0,
    # The 19 links of the official COCO `skeleton` field, made 0-based.
    limbs=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12),
        (5, 6), (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2),
        (1, 3), (2, 4), (3, 5), (4, 6),
    ),
)

SKELETONS = {"mpii": MPII, "coco": COCO}
# The datasets mdn_tf reads: one per skeleton (layouts in mdn_tf.data.datasets).
DATASETS = tuple(SKELETONS)


def get_skeleton(name):
    """Returns the skeleton called `name` ("mpii" or "coco"), or a Skeleton as is."""
    if isinstance(name, Skeleton):
        return name
    if name not in SKELETONS:
        raise ValueError(
            f"skeleton must be one of {sorted(SKELETONS)}. Received: skeleton={name!r}"
        )
    return SKELETONS[name]


def voting_edges(skeleton, mode="within_part"):
    """Returns the `(source, target)` voting edges of an MDN voting stage.

    Args:
        skeleton: a `Skeleton` or its name.
        mode: "within_part" gives `[(j, j) for j in range(J)]`; "cross_part"
            gives the J self edges first, then `(parent, child)` for every tree
            edge in tree order (E = 2J - 1, 31 for MPII). Defaults to
            "within_part".

    Returns:
        A list of E `(source, target)` tuples, the `edges` argument of
        `MassDisplacement` and the channel order of displacement targets.

    Raises:
        ValueError: for an unknown `mode`.
    """
    skeleton = get_skeleton(skeleton)
    if mode not in VOTING_MODES:
        raise ValueError(f"mode must be one of {VOTING_MODES}. Received: mode={mode!r}")
    edges = [(j, j) for j in range(skeleton.num_joints)]
    if mode == "cross_part":
        edges += [tuple(edge) for edge in skeleton.tree]
    return edges


def edge_flip_permutation(skeleton, edges):
    """Returns `perm` so that flipped edge-indexed data is `data[..., perm]`.

    Edge e = (s, t) becomes edge (flip(s), flip(t)) under a horizontal flip;
    that edge must also be in `edges` (true for both voting modes of MPII and
    COCO, whose trees are left/right symmetric).

    Raises:
        ValueError: when the mirror of an edge is not in `edges`.
    """
    skeleton = get_skeleton(skeleton)
    flip = skeleton.flip_permutation()
    index = {tuple(edge): e for e, edge in enumerate(edges)}
    perm = []
    for s, t in edges:
        mirrored = (flip[s], flip[t])
        if mirrored not in index:
            raise ValueError(
                f"edge {(s, t)} flips to {mirrored}, which is not among the edges. "
                f"Received: edges={list(edges)}"
            )
        perm.append(index[mirrored])
    return perm


def skeleton_for_model(name, num_joints):
    """The `Skeleton` named `name`, or the one with `num_joints` joints when None.

    Raises:
        ValueError: no skeleton has that many joints, or `name`'s does not.
    """
    if name is None:
        name = {s.num_joints: n for n, s in SKELETONS.items()}.get(num_joints)
        if name is None:
            raise ValueError(
                f"skeleton must be given for a model with {num_joints} joints; mdn_tf knows "
                f"{', '.join(f'{n} ({s.num_joints} joints)' for n, s in SKELETONS.items())}")
    skeleton = get_skeleton(name)
    if skeleton.num_joints != num_joints:
        raise ValueError(
            f"skeleton must have as many joints as the model. Received: skeleton={name!r} "
            f"({skeleton.num_joints} joints) for a model with {num_joints} joints")
    return skeleton
