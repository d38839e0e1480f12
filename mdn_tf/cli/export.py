"""Export a trained .keras pose model as a SavedModel for stock TF Serving.

    mdn-tf export --model runs/<run>/model.keras --output exported/mdn/1

The SavedModel's `serving_default` signature works like
`tf.image.crop_and_resize`: `images` [N, H, W, 3] uint8, `boxes` [K, 4]
float32 (x, y, w, h in image pixels) and `box_indices` [K] int32 (the image
of each box) -> `keypoints` [K, J, 2] in image pixels and `scores` [K, J],
so a photo with several people is sent once. `whole_image` takes images only
(one person filling each). Voting runs on stock TensorFlow ops, so
`tensorflow_model_server` loads it without mdn_tf (README, "Serving with TF
Serving").
"""

import sys

from mdn_tf.cli._common import require_path, require_tensorflow_backend, standalone_main
from mdn_tf.skeleton import DATASETS


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="a .keras file from training")
    parser.add_argument("--output", required=True,
                        help="SavedModel folder (TF Serving wants <model_name>/<version>)")
    parser.add_argument("--skeleton", choices=DATASETS,
                        help="joint set for the flip test; default: from J (16 MPII, 17 COCO)")
    parser.add_argument("--no-flip", action="store_true", help="export without the flip test")
    parser.add_argument("--no-quarter-offset", action="store_true", help="plain arg-max decoding")


def run(args):
    require_path(args.model, "--model", "file")
    require_tensorflow_backend("export")
    import keras

    import mdn_tf.models  # noqa: F401  (registers the layers the .keras file refers to)
    from mdn_tf.export import export_saved_model

    model = keras.models.load_model(args.model)
    path = export_saved_model(model, args.output, skeleton=args.skeleton,
                              flip_test=not args.no_flip,
                              quarter_offset=not args.no_quarter_offset)
    print(f"SavedModel written to {path}\n"
          f"inspect: saved_model_cli show --dir {path} --all")
    return 0


def main(argv=None):
    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf export")


if __name__ == "__main__":
    sys.exit(main())
