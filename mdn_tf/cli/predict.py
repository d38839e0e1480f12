"""Predict keypoints on photos: a PNG with the skeletons drawn and a JSON per photo.

    mdn-tf predict --model runs/<run>/model.keras photo.jpg
    mdn-tf predict --model exported/mdn/1 team.jpg --box 412,120,180,390 --box 700,95,170,410
    mdn-tf predict --model model.keras frames/*.jpg --boxes-json detections.json

Which people (person boxes, x,y,w,h in image pixels):
  no boxes         each photo is one person filling the whole photo (as the
                   SavedModel's whole_image signature does)
  --box x,y,w,h    repeatable; the same boxes on every photo given, e.g.
                   three --box for three people on one photo. A box starting
                   with a minus sign is written --box=-12,40,200,380.
  --boxes-json F   different boxes per photo: {"IMAGE": [[x,y,w,h], ...], ...}
                   keyed by IMAGE as given or its file name; every photo needs
                   an entry ([] for nobody) and every entry a photo.

For each IMAGE (JPEG, PNG, BMP, GIF first frame) it writes, in --output-dir:
  <name>_pose.png   the photo with each person's box (dashed) and skeleton
                    (right limbs red, left blue, centre green; yellow joints)
  <name>_pose.json  per person: box, keypoints [J, 2] (x, y in image pixels),
                    scores [J]; plus the joint names, image size and model.
A photo that cannot be decoded is reported by name and skipped; the others
are still predicted, and the exit status is 1.
The model is a .keras file from training (run with the flip test unless
--no-flip) or a SavedModel folder from `mdn-tf export` (run through its
serving_default signature, exactly as TF Serving would).
"""

import os
import sys
import time

from mdn_tf.cli._common import (
    UserError,
    require_path,
    require_tensorflow_backend,
    standalone_main,
)
from mdn_tf.cli._predict_boxes import boxes_per_image, check_boxes_on_image, parse_box
from mdn_tf.skeleton import DATASETS

DEFAULT_OUTPUT_DIR = os.path.join("runs", "predict")


def add_arguments(parser):
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photos to predict on")
    parser.add_argument("--model", required=True,
                        help="a .keras file, a SavedModel folder, or a .tflite, .onnx, OpenVINO "
                             ".xml or PyTorch .pt2 artefact (from mdn-tf export); the runtime is "
                             "picked by it")
    parser.add_argument("--box", action="append", type=parse_box, metavar="x,y,w,h",
                        help="a person box in image pixels, applied to every IMAGE; repeat for "
                             "several people (default: the whole image is one person)")
    parser.add_argument("--boxes-json", metavar="FILE",
                        help='boxes per image: {"IMAGE": [[x,y,w,h], ...], ...}')
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR,
                        help=f"where the PNG and JSON files go (default: {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--skeleton", choices=DATASETS,
                        help="the model's joint set; default: from J (16 MPII, 17 COCO)")
    parser.add_argument("--no-flip", action="store_true",
                        help="skip the flip test (.keras only; a SavedModel runs what it was "
                             "exported with)")
    parser.add_argument("--no-quarter-offset", action="store_true",
                        help="plain arg-max decoding (.keras only)")


def run(args):
    require_path(args.model, "--model", "any")
    missing = [path for path in args.images if not os.path.isfile(path)]
    if missing:  # before the model loads: a typo fails at once
        raise UserError(f"IMAGE must be an existing file. Received: {', '.join(missing)}")
    if args.boxes_json is not None:
        require_path(args.boxes_json, "--boxes-json", "file")
    boxes = boxes_per_image(args.images, args.box, args.boxes_json)
    from mdn_tf.deploy.runtimes import WHOLE_PHOTO_FORMATS, artifact_format

    kind = artifact_format(args.model)
    if kind is not None and (args.no_flip or args.no_quarter_offset):
        raise UserError(f"--no-flip and --no-quarter-offset apply to .keras models; a {kind} "
                        f"artefact decodes as it was exported. Received: --model {args.model}")
    if kind in WHOLE_PHOTO_FORMATS and any(b is not None for b in boxes):
        raise UserError(f"a {kind} artefact takes whole photos (one person filling each); "
                        "--box and --boxes-json need a .keras model or a SavedModel. "
                        f"Received: --model {args.model}")
    require_tensorflow_backend("predict")

    from mdn_tf.inference.images import ImageReadError, read_image
    from mdn_tf.inference.pose_json import pose_result, write_pose_json
    from mdn_tf.inference.geometry import whole_image_box
    from mdn_tf.inference.predictor import PosePredictor
    from mdn_tf.visualization import save_pose_image

    predictor = PosePredictor(args.model, skeleton=args.skeleton, flip_test=not args.no_flip,
                              quarter_offset=not args.no_quarter_offset)
    os.makedirs(args.output_dir, exist_ok=True)
    print(f"model {args.model} ({predictor.kind}, {predictor.skeleton.name} joints, input "
          f"{predictor.input_size[0]}x{predictor.input_size[1]}); {len(args.images)} image(s)")
    start, people, names, unreadable = time.time(), 0, set(), []
    for image_path, image_boxes in zip(args.images, boxes):
        try:
            image = read_image(image_path)
        except ImageReadError as error:
            # One bad file in a folder of photos should not cost the others.
            print(f"mdn-tf predict: error: {error}", file=sys.stderr)
            unreadable.append(image_path)
            continue
        whole_image = image_boxes is None
        if whole_image:
            image_boxes = [whole_image_box(*image.shape[:2])]
        check_boxes_on_image(image_boxes, image_path, image.shape)
        keypoints, scores = predictor(image, image_boxes)
        stem = _output_stem(args.output_dir, image_path, names)
        result = pose_result(image_path, image.shape, image_boxes, keypoints, scores,
                             predictor.skeleton, args.model, whole_image)
        write_pose_json(stem + ".json", result)
        save_pose_image(stem + ".png", image, keypoints, predictor.skeleton,
                        boxes=None if whole_image else image_boxes)
        people += len(image_boxes)
        print(f"{image_path}: {len(image_boxes)} {'person' if len(image_boxes) == 1 else 'people'}"
              f"{' (whole image)' if whole_image else ''} -> {stem}.png, {stem}.json")
    seconds = time.time() - start
    done = len(args.images) - len(unreadable)
    print(f"\n{done} image(s), {people} {'person' if people == 1 else 'people'}, "
          f"{seconds:.1f} s; outputs in {args.output_dir}")
    if unreadable:
        print(f"mdn-tf predict: error: {len(unreadable)} image(s) could not be read: "
              f"{', '.join(unreadable)}", file=sys.stderr)
        return 1
    return 0


def _output_stem(output_dir, image_path, taken):
    """`<output_dir>/<name>_pose`, numbered when two photos share a file name."""
    name = os.path.splitext(os.path.basename(image_path))[0] + "_pose"
    stem, number = name, 1
    while stem in taken:
        number += 1
        stem = f"{name}{number}"
    taken.add(stem)
    return os.path.join(output_dir, stem)


def main(argv=None):
    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf predict")


if __name__ == "__main__":
    sys.exit(main())
