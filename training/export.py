#!/usr/bin/env python3
"""Exports a trained .keras pose model as a SavedModel for stock TF Serving.

    python training/export.py --model runs/.../model.keras --output exported/mdn/1

The SavedModel's `serving_default` signature takes `images` [N, H, W, 3]
uint8 and `boxes` [N, 4] float32 (x, y, w, h), and returns `keypoints`
[N, J, 2] in image pixels and `scores` [N, J]; `whole_image` takes images
only. Voting runs on stock TensorFlow ops, so `tensorflow_model_server`
loads it without mdn_tf (see README, "Serving").
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .keras file from training")
    parser.add_argument("--output", required=True,
                        help="SavedModel folder (TF Serving wants <model_name>/<version>)")
    parser.add_argument("--skeleton", choices=("mpii", "coco"),
                        help="joint set for the flip test; default: from J (16 MPII, 17 COCO)")
    parser.add_argument("--no-flip", action="store_true", help="export without the flip test")
    parser.add_argument("--no-quarter-offset", action="store_true", help="plain arg-max decoding")
    args = parser.parse_args(argv)

    import keras

    import mdn_tf.models  # noqa: F401  (registers the layers the .keras file refers to)
    from mdn_tf.export import export_saved_model

    model = keras.models.load_model(args.model)
    path = export_saved_model(model, args.output, skeleton=args.skeleton,
                              flip_test=not args.no_flip,
                              quarter_offset=not args.no_quarter_offset)
    print(f"SavedModel written to {path}\n"
          f"inspect: saved_model_cli show --dir {path} --all")
    return path


if __name__ == "__main__":
    main()
