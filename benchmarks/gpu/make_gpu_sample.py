"""Saves training batches of the built-in sample data as one .npz for keras_torch_gpu.py.

Runs here, on the TensorFlow backend (the data pipeline is tf.data): it
builds the batches exactly as `mdn-tf train` on the sample data does
(`mdn_tf.training.run.Experiment`: MPII sample, 128x128 crops, 32x32 maps,
the training augmentation, `MDNCodec` with the rule's `FinalSupervision`)
and writes them in compact form, so that the GPU machine, which has no
TensorFlow, can train on them with NumPy batches:

    python benchmarks/gpu/make_gpu_sample.py            # -> .gpu_data/mdn_small_sample.npz

Stored (N examples): images uint8 [N, 128, 128, 3] (the float crops
rounded to 1/255), heatmaps uint8 [N, 32, 32, J] (binary disks),
offsets_x / offsets_y float32 [N, 32, 32, E] (zero outside the mask),
offset_weights uint8 [N, 32, 32, E], final float32 [N, 32, 32, J],
joint_weights float32 [N, J], and the settings (combine, edges, ...) as
0-d arrays. `keras_torch_gpu.pack_targets` rebuilds the packed Keras
targets of `mdn_tf.losses.pack_targets` from them in NumPy.
"""

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

DEFAULT_OUT = os.path.join(ROOT, ".gpu_data", "mdn_small_sample.npz")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--input-size", type=int, default=128)
    # The sample-data training defaults (mdn_tf/training/config.py SAMPLE_DEFAULTS).
    parser.add_argument("--combine", default="additive")
    parser.add_argument("--edges", default="within_part")
    parser.add_argument("--kernel", default="bilinear")
    parser.add_argument("--kernel-size", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from mdn_tf.data import build_dataset, mpii, sample_data
    from mdn_tf.data.targets import MDNCodec
    from mdn_tf.final_supervision import FinalSupervision

    start = time.time()
    paths = sample_data.sample_data()
    records = mpii.load_annotations(paths.mpii_train)
    size = (args.input_size, args.input_size)
    supervision = FinalSupervision(args.combine, args.kernel, args.kernel_size, None,
                                   form="voted", warp=False)
    codec = MDNCodec("mpii", map_size=(size[0] // 4, size[1] // 4), mode=args.edges,
                     final_supervision=supervision)
    batches = -(-args.examples // args.batch_size)
    parts = {}
    epoch = 0
    while sum(len(v) for v in parts.get("images", [])) < args.examples:
        dataset = build_dataset(records, "mpii", is_training=True, batch_size=args.batch_size,
                                input_size=size, codec=codec, seed=args.seed + epoch, cache=True)
        for images, targets in dataset.take(batches):
            parts.setdefault("images", []).append(images.numpy())
            for key, value in targets.items():
                parts.setdefault(key, []).append(value.numpy())
        epoch += 1
    arrays = {key: np.concatenate(value)[: args.examples] for key, value in parts.items()}
    images = arrays["images"]
    out = {
        "images": np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8),
        "heatmaps": arrays["heatmaps"].astype(np.uint8),
        "offsets_x": arrays["offsets_x"].astype(np.float32),
        "offsets_y": arrays["offsets_y"].astype(np.float32),
        "offset_weights": arrays["offset_weights"].astype(np.uint8),
        "final": arrays["final"].astype(np.float32),
        "joint_weights": arrays["joint_weights"].astype(np.float32),
        "combine": np.array(args.combine), "edges": np.array(args.edges),
        "kernel": np.array(args.kernel), "kernel_size": np.array(args.kernel_size),
        "input_size": np.array(args.input_size), "seed": np.array(args.seed),
        "tensorflow_version": np.array(tf.__version__),
    }
    # Exactness of the compact types.
    assert np.array_equal(out["heatmaps"], arrays["heatmaps"]), "heatmaps are not binary"
    assert np.array_equal(out["offset_weights"], arrays["offset_weights"]), "mask not binary"
    assert images.min() >= 0.0 and images.max() <= 1.0, (images.min(), images.max())
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.1f} MB, "
          + ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in out.items() if v.ndim)
          + f" ({time.time() - start:.0f} s; image rounding error "
          f"{np.abs(out['images'] / 255.0 - images).max():.4f})")


if __name__ == "__main__":
    main()
