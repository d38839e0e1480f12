"""Figures of a trained model on annotated people (`mdn-tf visualize`).

- `draw_predictions`: predicted skeletons on the original images, ground
  truth as small white dots;
- `draw_panels`: one row per person, as in Fig. 1/3 of Neverova & Kokkinos
  (2018): the network input, the heatmap c of one joint, the displacement
  fields ox and oy of that joint's within-part edge (in map pixels, shown
  where c exceeds a tenth of its peak), and the voted map m with its arg-max.
"""

import os

import numpy as np


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
    """Predicted skeletons on the records' images, ground truth as white dots."""
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
    """One row per record: input, heatmap c, displacements ox, oy and voted map m of `joint`."""
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
