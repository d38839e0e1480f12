"""Tests of mdn_tf.skeleton: joint sets, flip pairs, trees and voting edges."""

import pytest

from mdn_tf.skeleton import (
    COCO,
    MPII,
    Skeleton,
    edge_flip_permutation,
    get_skeleton,
    voting_edges,
)


def test_mpii_has_the_standard_16_joint_order_rooted_at_thorax():
    assert MPII.num_joints == 16
    assert MPII.joint_names[7] == "thorax" and MPII.root == 7
    assert MPII.joint_names[0] == "r_ankle" and MPII.joint_names[15] == "l_wrist"
    assert len(MPII.tree) == 15


def test_coco_has_17_keypoints_and_a_16_edge_tree_rooted_at_nose():
    assert COCO.num_joints == 17
    assert COCO.joint_names[COCO.root] == "nose"
    assert len(COCO.tree) == 16
    assert len(COCO.limbs) == 19


@pytest.mark.parametrize("skeleton", [MPII, COCO], ids=["mpii", "coco"])
def test_flip_pairs_swap_left_and_right_names(skeleton):
    perm = skeleton.flip_permutation()
    assert sorted(perm) == list(range(skeleton.num_joints))
    assert [perm[p] for p in perm] == list(range(skeleton.num_joints))
    for j, k in enumerate(perm):
        a, b = skeleton.joint_names[j], skeleton.joint_names[k]
        side, _, rest = a.partition("_")
        mirror = {"l": "r", "r": "l", "left": "right", "right": "left"}
        assert b == (f"{mirror[side]}_{rest}" if side in mirror else a)


@pytest.mark.parametrize("skeleton", [MPII, COCO], ids=["mpii", "coco"])
def test_tree_reaches_every_joint_once_from_the_root(skeleton):
    parents = skeleton.parents()
    assert parents[skeleton.root] == -1
    assert sorted(c for _, c in skeleton.tree) == sorted(
        set(range(skeleton.num_joints)) - {skeleton.root}
    )


def test_voting_edges_within_part_are_self_edges():
    assert voting_edges(MPII) == [(j, j) for j in range(16)]


def test_voting_edges_cross_part_are_self_edges_then_tree_edges():
    edges = voting_edges(MPII, "cross_part")
    assert len(edges) == 31
    assert edges[:16] == [(j, j) for j in range(16)]
    assert edges[16:] == list(MPII.tree)
    assert len(voting_edges("coco", "cross_part")) == 33


@pytest.mark.parametrize("skeleton", [MPII, COCO], ids=["mpii", "coco"])
def test_edge_flip_permutation_maps_each_edge_to_its_mirror(skeleton):
    edges = voting_edges(skeleton, "cross_part")
    flip = skeleton.flip_permutation()
    perm = edge_flip_permutation(skeleton, edges)
    for e, (s, t) in enumerate(edges):
        assert edges[perm[e]] == (flip[s], flip[t])


def test_voting_edges_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of .* Received: mode='all'"):
        voting_edges(MPII, "all")


def test_get_skeleton_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="Received: skeleton='h36m'"):
        get_skeleton("h36m")


def test_skeleton_rejects_a_tree_that_does_not_start_at_the_root():
    with pytest.raises(ValueError, match="tree must list edges from the root"):
        Skeleton("bad", ("a", "b", "c"), (), ((1, 2), (0, 1)), root=0)
