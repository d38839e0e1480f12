"""Matplotlib drawing shared by the figure scripts: skeletons and map panels.

Colours follow the usual convention: right limbs red, left limbs blue,
centre limbs green. Map panels put pixel centres at integer coordinates
(the layer's convention), so keypoints plot where they were decoded.
"""

import numpy as np


def limb_side(name):
    """"right", "left" or "centre" from a joint name of `mdn_tf.skeleton`."""
    if name.startswith(("r_", "right")):
        return "right"
    if name.startswith(("l_", "left")):
        return "left"
    return "centre"


def limb_color(skeleton, a, b):
    """Colour of the limb between joints `a` and `b`."""
    sides = {limb_side(skeleton.joint_names[a]), limb_side(skeleton.joint_names[b])} - {"centre"}
    if sides == {"right"}:
        return "red"
    if sides == {"left"}:
        return "dodgerblue"
    return "limegreen"


def draw_skeleton(ax, keypoints, skeleton, visible=None, linewidth=2.0, marker_size=14):
    """Draws limbs and joints of one person on a matplotlib axis.

    Args:
        ax: the axis.
        keypoints: `[J, 2]` (x, y) in the axis' data coordinates.
        skeleton: a `Skeleton`.
        visible: `[J]` bool; joints drawn. Defaults to all.
    """
    keypoints = np.asarray(keypoints)
    visible = np.ones(len(keypoints), bool) if visible is None else np.asarray(visible, bool)
    for a, b in skeleton.limbs:
        if visible[a] and visible[b]:
            ax.plot(*keypoints[[a, b]].T, color=limb_color(skeleton, a, b), lw=linewidth)
    ax.scatter(*keypoints[visible].T, s=marker_size, c="yellow", edgecolors="black", zorder=3)


def map_extent(height, width):
    """`imshow` extent that puts map pixel centres at integer coordinates."""
    return (-0.5, width - 0.5, height - 0.5, -0.5)


def clear_axis(ax, title=None):
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
