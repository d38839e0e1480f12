"""Draw a trained model's predictions and its MDN maps (heatmap, displacements, votes) on annotated people.

Runs a .keras model from training on the first --num validation people of
the built-in sample (or of --data-dir) and writes two PNGs to --output-dir
(default: beside --model):

- predictions.png: predicted skeletons (flip test) on the original images,
  ground truth as small white dots;
- mdn_panels.png: one row per person, as in Fig. 1/3 of the paper: the
  network input, the heatmap c of --joint, its displacement fields ox and oy
  (map pixels) and the voted map m with its arg-max.

For keypoints on your own photos, use `mdn-tf predict`.

    mdn-tf visualize --model runs/mpii_sample_small_mdn_additive/model.keras
    mdn-tf visualize --model m.keras --data-dir /data/mpii --joint l_wrist --num 6
"""

import os
import sys

from mdn_tf.skeleton import DATASETS


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="a .keras file from training")
    parser.add_argument("--dataset", choices=DATASETS, default="mpii")
    parser.add_argument("--data-dir", help="real MPII or COCO folder; default: the built-in sample")
    parser.add_argument("--num", type=int, default=4, help="people to draw (default 4)")
    parser.add_argument("--joint", help="joint of the MDN panels; default: the right wrist")
    parser.add_argument("--output-dir", help="default: beside --model")


def run(args):
    from mdn_tf.cli._common import (
        UserError,
        require_path,
        require_tensorflow_backend,
    )

    require_path(args.model, "--model", "file")
    if args.data_dir is not None:
        require_path(args.data_dir, "--data-dir", "dir")
    if args.num < 1:
        raise UserError(f"--num must be a positive integer. Received: --num {args.num}")
    from mdn_tf.skeleton import get_skeleton

    skeleton = get_skeleton(args.dataset)
    joint_name = args.joint or ("r_wrist" if args.dataset == "mpii" else "right_wrist")
    if joint_name not in skeleton.joint_names:
        raise UserError(f"--joint must be one of {list(skeleton.joint_names)}. "
                        f"Received: --joint {joint_name}")
    require_tensorflow_backend("visualize")
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import mdn_tf.models  # noqa: F401  (registers the layers of .keras files)
    from mdn_tf.cli._validation import load_validation
    from mdn_tf.evaluation import predict_records
    from mdn_tf.model_figures import draw_panels, draw_predictions

    model = keras.models.load_model(args.model)
    input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
    args.max_records = args.num
    records, _ = load_validation(args, input_size)
    records = records[: args.num]
    output_dir = args.output_dir or os.path.dirname(os.path.abspath(args.model))
    os.makedirs(output_dir, exist_ok=True)

    keypoints, _ = predict_records(model, records, skeleton, verbose=False)
    predictions = os.path.join(output_dir, "predictions.png")
    draw_predictions(predictions, records, keypoints, skeleton)
    panels = os.path.join(output_dir, "mdn_panels.png")
    draw_panels(panels, model, records, skeleton, skeleton.joint_names.index(joint_name))
    print(f"{len(records)} people of {args.data_dir or 'the built-in sample'}, "
          f"model {args.model}\nwrote {predictions}\nwrote {panels}")
    return 0


def main(argv=None):
    from mdn_tf.cli._common import standalone_main

    return standalone_main(sys.modules[__name__], argv, prog="mdn-tf visualize")
