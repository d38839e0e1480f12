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


def save_pose_image(path, image, keypoints, skeleton, boxes=None, visible=None):
    """Writes `image` with every person's skeleton drawn, at the image's own resolution.

    Line widths and joint markers grow with the image (about 0.4% of its
    larger side), so skeletons stay visible on a 4000-pixel photo and do not
    swamp a 200-pixel one. Boxes are drawn as thin dashed white rectangles.

    Args:
        path: output file (PNG by its extension).
        image: `[H, W, 3]` uint8.
        keypoints: `[K, J, 2]` (x, y) in image pixels.
        skeleton: a `Skeleton`.
        boxes: `[K, 4]` (x, y, w, h) to outline, or None. Defaults to None.
        visible: `[K, J]` bool; joints drawn. Defaults to all.
    """
    # Figure instead of pyplot: no global state, no display backend needed.
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    height, width = image.shape[:2]
    dpi = 72  # one point is one pixel, so widths below are in pixels
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = figure.add_axes([0, 0, 1, 1])
    ax.imshow(image, extent=map_extent(height, width), interpolation="nearest")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.axis("off")
    linewidth = max(2.0, 0.004 * max(height, width))
    marker = max(7.0, 2.6 * linewidth)  # diameter: the black rim must not hide the yellow
    for k, person in enumerate(np.asarray(keypoints).reshape(-1, skeleton.num_joints, 2)):
        if boxes is not None:
            x, y, w, h = np.asarray(boxes, np.float64)[k]
            ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="white",
                                   linestyle="--", linewidth=max(1.0, linewidth / 2)))
        draw_skeleton(ax, person, skeleton, None if visible is None else visible[k],
                      linewidth=linewidth, marker_size=marker ** 2)
    figure.savefig(path, dpi=dpi)
