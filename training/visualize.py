#!/usr/bin/env python3
"""Figures of a trained model: predicted skeletons and the paper's MDN panels.

    python training/visualize.py --model runs/mpii_sample_small_mdn_noisy_or/model.keras
    python training/visualize.py --model m.keras --data-dir /data/mpii --joint l_wrist --num 6

Writes two PNGs to --output-dir (default: beside the model):

- `predictions.png`: predicted skeletons (flip test) on the original images,
  ground truth as small white dots;
- `mdn_panels.png`: one row per person, as in Fig. 1/3 of Neverova &
  Kokkinos (2018): the network input, the heatmap c of one joint, the
  displacement fields ox and oy of that joint's within-part edge (in map
  pixels, shown where c exceeds a tenth of its peak), and the voted map m with its arg-max.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .keras file from training")
    parser.add_argument("--dataset", choices=("mpii", "coco"), default="mpii")
    parser.add_argument("--data-dir", help="real MPII or COCO folder; default: the built-in sample")
    parser.add_argument("--num", type=int, default=4, help="people to draw")
    parser.add_argument("--joint", help="joint of the MDN panels; default: the right wrist")
    parser.add_argument("--output-dir", help="default: beside --model")
    return parser


def voting_edges_of(model):
    """(sources, targets) of the model's voting layer, or None (baseline, stn)."""
    from mdn_tf import MassDisplacement

    for layer in model.layers:
        if isinstance(layer, MassDisplacement):
            config = layer.voting
            return list(config.sources), list(config.targets)
    return None


def edge_scales_of(model, num_edges):
    """Per-edge factors from predicted units to map pixels (ScaleChannels layer)."""
    from mdn_tf.models.heads import ScaleChannels

    for layer in model.layers:
        if isinstance(layer, ScaleChannels) and len(layer.scales) == num_edges:
            return np.asarray(layer.scales, np.float32)
    return np.ones(num_edges, np.float32)


def draw_predictions(path, records, keypoints, skeleton):
    import matplotlib.pyplot as plt
    import tensorflow as tf

    from mdn_tf.data.records import PIXELS_PER_SCALE
    from mdn_tf.visualization import clear_axis, draw_skeleton

    columns = min(len(records), 4)
    rows = int(np.ceil(len(records) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, record, points in zip(axes.ravel(), records, keypoints):
        image = tf.io.decode_image(tf.io.read_file(record.image), channels=3,
                                   expand_animations=False).numpy()
        ax.imshow(image)
        annotated = np.asarray(record.visibility) > 0
        ax.scatter(*np.asarray(record.joints)[annotated].T, s=6, c="white", zorder=4)
        draw_skeleton(ax, points, skeleton)
        half = 0.5 * np.asarray(record.scale) * PIXELS_PER_SCALE
        ax.set_xlim(record.center[0] - half.max(), record.center[0] + half.max())
        ax.set_ylim(record.center[1] + half.max(), record.center[1] - half.max())
        clear_axis(ax, os.path.basename(record.image))
    fig.suptitle("predicted skeletons (flip test); white dots: ground truth")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def draw_panels(path, model, records, skeleton, joint):
    import matplotlib.pyplot as plt
    import tensorflow as tf

    from mdn_tf.data import build_dataset
    from mdn_tf.inference import decode_keypoints
    from mdn_tf.visualization import clear_axis, map_extent

    input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
    images, _ = next(iter(build_dataset(records, skeleton, batch_size=len(records),
                                        input_size=input_size)))
    outputs = {k: v.numpy() for k, v in model(images, training=False).items()}
    heatmaps = tf.sigmoid(outputs["heatmaps"]).numpy()
    final = outputs["final"]
    peaks = decode_keypoints(final)[0].numpy()
    edges = voting_edges_of(model)
    edge = None
    if edges is not None and "offsets_x" in outputs:
        sources, targets = edges
        edge = next((e for e, (s, t) in enumerate(zip(sources, targets)) if s == t == joint), None)
        scales = edge_scales_of(model, len(sources))
    height, width = final.shape[1:3]
    extent = map_extent(height, width)
    name = skeleton.joint_names[joint]
    titles = ["input", f"heatmap c ({name})", "ox (map px)", "oy (map px)", f"voted m ({name})"]
    fig, axes = plt.subplots(len(records), 5, figsize=(16, 3.4 * len(records)), squeeze=False)
    for row in range(len(records)):
        axes[row, 0].imshow(images[row].numpy(), extent=extent)
        axes[row, 1].imshow(heatmaps[row, ..., joint], extent=extent, cmap="magma", vmin=0, vmax=1)
        for col, key in ((2, "offsets_x"), (3, "offsets_y")):
            ax = axes[row, col]
            if edge is None:
                ax.text(0.5, 0.5, "no displacement\n(this variant)", ha="center", va="center",
                        transform=ax.transAxes)
                continue
            field = outputs[key][row, ..., edge] * scales[edge]
            confidence = heatmaps[row, ..., joint]
            shown = np.ma.masked_where(confidence < 0.1 * confidence.max(), field)
            limit = max(float(np.abs(shown).max()) if shown.count() else 1.0, 1e-3)
            image = ax.imshow(shown, extent=extent, cmap="coolwarm", vmin=-limit, vmax=limit)
            fig.colorbar(image, ax=ax, fraction=0.046)
        axes[row, 4].imshow(final[row, ..., joint], extent=extent, cmap="viridis")
        axes[row, 4].scatter(*peaks[row, joint], marker="x", c="red", s=40)
        for col, ax in enumerate(axes[row]):
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            clear_axis(ax, titles[col] if row == 0 else None)
    fig.suptitle("Mass displacement: heatmaps c, displacements (ox, oy), voted maps m")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    args = build_parser().parse_args(argv)
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import mdn_tf.models  # noqa: F401  (registers the layers of .keras files)
    from mdn_tf.evaluation import predict_records
    from mdn_tf.skeleton import get_skeleton

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from evaluate import load_validation

    skeleton = get_skeleton(args.dataset)
    joint_name = args.joint or ("r_wrist" if args.dataset == "mpii" else "right_wrist")
    if joint_name not in skeleton.joint_names:
        raise ValueError(f"--joint must be one of {list(skeleton.joint_names)}. "
                         f"Received: --joint {joint_name}")
    joint = skeleton.joint_names.index(joint_name)
    model = keras.models.load_model(args.model)
    input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
    args.max_records, args.detections = args.num, None
    records, _ = load_validation(args, input_size)
    records = records[: args.num]
    output_dir = args.output_dir or os.path.dirname(os.path.abspath(args.model))
    os.makedirs(output_dir, exist_ok=True)

    keypoints, _ = predict_records(model, records, skeleton, verbose=False)
    predictions = os.path.join(output_dir, "predictions.png")
    draw_predictions(predictions, records, keypoints, skeleton)
    panels = os.path.join(output_dir, "mdn_panels.png")
    draw_panels(panels, model, records, skeleton, joint)
    print(f"wrote {predictions}\nwrote {panels}")
    return predictions, panels


if __name__ == "__main__":
    main()
