"""Export a trained .keras pose model for TF Serving, LiteRT, ONNX Runtime or OpenVINO.

    mdn-tf export --model runs/<run>/model.keras --output exported/mdn/1
    mdn-tf export --model runs/<run>/model.keras --output exported/mdn --format litert
    mdn-tf export --model M --output exported/mdn_fp16 --format litert --quantization float16
    mdn-tf export --model M --output exported/mdn --format onnx      # or openvino, torch

--format litert, onnx, openvino and torch write one file (.tflite, .onnx,
OpenVINO .xml + .bin, PyTorch ExportedProgram .pt2) that takes one uint8 photo [1, H, W, 3] of any size and returns
`keypoints` [1, J, 2] in the photo's pixels, `scores` [1, J] and the final
`maps` [1, h, w, J] (the whole image is one person; flip test inside). A
JSON sidecar beside it gives the input, outputs, joints, skeleton and the
decoding convention. Voting uses the runtime's own operators (no custom op).
`mdn-tf predict --model` runs any of them.

--format saved_model (the default) is for TF Serving:
its `serving_default` signature works like
`tf.image.crop_and_resize`: `images` [N, H, W, 3] uint8, `boxes` [K, 4]
float32 (x, y, w, h in image pixels) and `box_indices` [K] int32 (the image
of each box) -> `keypoints` [K, J, 2] in image pixels and `scores` [K, J],
so a photo with several people is sent once. `whole_image` takes images only
(one person filling each). Voting runs on stock TensorFlow ops, so
`tensorflow_model_server` loads it without mdn_tf (README, "Serving with TF
Serving").
"""

import sys

from mdn_tf.cli._common import (
    UserError,
    require_path,
    require_tensorflow_backend,
    standalone_main,
)
from mdn_tf.skeleton import DATASETS


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="a .keras file from training")
    parser.add_argument("--output", required=True,
                        help="SavedModel folder (TF Serving wants <model_name>/<version>), or "
                             "the artefact's path (the format's extension is added)")
    parser.add_argument("--format", default="saved_model",
                        choices=("saved_model", "litert", "onnx", "openvino", "torch"),
                        help="default saved_model; litert, onnx and openvino need "
                             'pip install -e ".[deploy]", torch needs PyTorch')
    parser.add_argument("--quantization", choices=("float16", "dynamic_int8"),
                        help="litert only: float16 weights, or int8 weights with dynamic-range "
                             "activations (default: float32)")
    parser.add_argument("--skeleton", choices=DATASETS,
                        help="joint set for the flip test; default: from J (16 MPII, 17 COCO)")
    parser.add_argument("--no-flip", action="store_true", help="export without the flip test")
    parser.add_argument("--no-quarter-offset", action="store_true", help="plain arg-max decoding")


def run(args):
    require_path(args.model, "--model", "file")
    if args.quantization and args.format != "litert":
        raise UserError(f"--quantization applies to --format litert only. "
                        f"Received: --format {args.format}")
    require_tensorflow_backend("export")
    from mdn_tf.deploy.export import export_model
    from mdn_tf.deploy.formats import MissingPackageError
    from mdn_tf.deploy.torch_program import TracingError

    try:
        path, sidecar = export_model(args.model, args.output, args.format,
                                     skeleton=args.skeleton, flip_test=not args.no_flip,
                                     quarter_offset=not args.no_quarter_offset,
                                     quantization=args.quantization)
    except (MissingPackageError, TracingError) as error:
        raise UserError(str(error)) from None
    print(f"{args.format} written to {path}; sidecar {sidecar}")
    if args.format == "saved_model":
        print(f"inspect: saved_model_cli show --dir {path} --all")
    return 0


def main(argv=None):
    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf export")


if __name__ == "__main__":
    sys.exit(main())
