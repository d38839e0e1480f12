"""Writes a PNG of pipeline samples: crops with skeletons, targets, displacements, votes.

A developer's view of the data pipeline and the MDN targets (no model
involved), kept as a script of the checkout; the figures of a trained model
are `mdn-tf visualize`.

One row per sample; columns:
  1. the network input with the target keypoints and the skeleton's limbs
     (right side red, left side blue, centre green);
  2. the heatmap targets (disks of radius eps_c, all joints) over the input;
  3. within-part displacement targets (arrows d_e * o_e inside each disk);
  4. cross-part displacement targets (tree edges, parent disk -> child);
  5. the targets voted by `MassDisplacement` (the maps a perfect network
     would produce), with the decoded keypoints as crosses.

Usage (sample data is generated on first use):

    python training/visualize_samples.py --dataset mpii --out samples_mpii.png
    python training/visualize_samples.py --dataset coco --train --out samples_coco.png
    python training/visualize_samples.py --dataset mpii \\
        --annotations ../shared/realdata/mpii/test_mpii.json --out real_mpii.png
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mdn_tf.data import build_dataset, coco, mpii  # noqa: E402
from mdn_tf.data.sample_data import sample_data  # noqa: E402
from mdn_tf.data.targets import MDNCodec  # noqa: E402
from mdn_tf.skeleton import get_skeleton  # noqa: E402
from mdn_tf.visualization import limb_color  # noqa: E402


def _records(args):
    if args.dataset == "mpii":
        path = args.annotations or sample_data(args.root).mpii_train
        return mpii.load_annotations(path, image_dir=args.images)
    paths = None if args.annotations else sample_data(args.root)
    path = args.annotations or paths.coco_train
    image_dir = args.images or (None if args.annotations else paths.coco_train_images)
    return coco.load_annotations(path, image_dir=image_dir)


def _vote(codec, targets):
    try:
        from mdn_tf import MassDisplacement
    except ImportError as error:  # the voting layer is another package part
        print(f"voting column skipped: {error}")
        return None
    norm = codec.edge_normalisers()
    layer = MassDisplacement(edges=codec.edges, combine="additive", num_targets=codec.num_joints)
    return layer(targets["heatmaps"], targets["offsets_x"] * norm, targets["offsets_y"] * norm).numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mpii", "coco"), default="mpii")
    parser.add_argument("--annotations", help="annotation file (default: the built-in sample data)")
    parser.add_argument("--images", help="image folder (default: beside the annotations)")
    parser.add_argument("--root", help="sample-data folder (default <cache>/sample, docs/data.md)")
    parser.add_argument("--num", type=int, default=4, help="samples to draw")
    parser.add_argument("--train", action="store_true", help="apply the training augmentation")
    parser.add_argument("--mode", choices=("within_part", "cross_part"), default="cross_part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="pipeline_samples.png")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skeleton = get_skeleton(args.dataset)
    records = _records(args)
    dataset = build_dataset(
        records, skeleton, is_training=args.train, batch_size=args.num, mode="cross_part",
        seed=args.seed, drop_remainder=False,
    )
    images, targets = next(iter(dataset))
    images = images.numpy()
    targets = {k: v.numpy() for k, v in targets.items()}
    map_h, map_w = targets["heatmaps"].shape[1:3]
    codec = MDNCodec(skeleton, map_size=(map_h, map_w), mode="cross_part")
    stride = images.shape[1] / map_h
    voted = _vote(codec, targets)
    num_joints = skeleton.num_joints
    norm = codec.edge_normalisers()

    columns = ["input + keypoints", "heatmap targets", "within-part displacements",
               "cross-part displacements", "voted targets + decoded"]
    fig, axes = plt.subplots(len(images), 5, figsize=(17, 3.6 * len(images)), squeeze=False)
    ys, xs = np.mgrid[0:map_h, 0:map_w]
    extent = (-0.5, map_w - 0.5, map_h - 0.5, -0.5)  # map pixel centres at integers
    for row, image in enumerate(images):
        weights = targets["joint_weights"][row]
        keypoints, _ = codec.decode(targets["final"][row])
        ax = axes[row, 0]
        ax.imshow(image, extent=extent)
        for a, b in skeleton.limbs:
            if weights[a] > 0 and weights[b] > 0:
                ax.plot(*keypoints[[a, b]].T, color=limb_color(skeleton, a, b), lw=2)
        ax.scatter(*keypoints[weights > 0].T, s=12, c="yellow", edgecolors="black", zorder=3)
        axes[row, 1].imshow(image, extent=extent)
        axes[row, 1].imshow(targets["heatmaps"][row].max(-1), extent=extent, cmap="magma", alpha=0.6)
        for col, edge_ids in ((2, range(num_joints)), (3, range(num_joints, codec.num_edges))):
            ax = axes[row, col]
            ax.imshow(image, extent=extent, alpha=0.5)
            for e in edge_ids:
                mask = targets["offset_weights"][row, ..., e] > 0
                ax.quiver(xs[mask], ys[mask],
                          targets["offsets_x"][row, ..., e][mask] * norm[e],
                          targets["offsets_y"][row, ..., e][mask] * norm[e],
                          angles="xy", scale_units="xy", scale=1, width=0.004,
                          color=limb_color(skeleton, *codec.edges[e]), alpha=0.6)
        ax = axes[row, 4]
        if voted is not None:
            ax.imshow(np.sqrt(np.maximum(voted[row].max(-1), 0.0)), extent=extent, cmap="viridis")
            decoded, _ = codec.decode(voted[row])
            ax.scatter(*decoded[weights > 0].T, marker="x", s=30, c="red")
        for ax, title in zip(axes[row], columns):
            ax.set_xlim(-0.5, map_w - 0.5)
            ax.set_ylim(map_h - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title)
    fig.suptitle(
        f"{args.dataset} {'training (augmented)' if args.train else 'evaluation'} samples; "
        f"input {images.shape[1]}x{images.shape[2]}, maps {map_h}x{map_w} (stride {stride:g}), "
        f"eps_c={codec.heatmap_radius:g}"
    )
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}: {len(images)} samples")


if __name__ == "__main__":
    main()
