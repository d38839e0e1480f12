"""The validation records of a dataset, as training reads them (for evaluate, visualize)."""


def load_validation(args, input_size):
    """Validation records, and the MPII ground truth or the COCO annotation file.

    Args:
        args: a namespace with `dataset` ("mpii" or "coco"), `data_dir`
            (None: the built-in sample), and optionally `detections` (COCO
            person boxes) and `max_records` (keep the first N people).
        input_size: `(H, W)` of the model's input.

    Returns:
        `(records, truth)`: the `PoseRecord`s, and the ground-truth dict
        (MPII) or the annotation file's path (COCO).
    """
    from mdn_tf.training import config as config_lib
    from mdn_tf.training.run import Experiment

    argv = ["--input-size", str(input_size[0]), str(input_size[1])]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    detections = getattr(args, "detections", None)
    if args.dataset == "coco" and detections:
        argv += ["--detections", detections]
    max_records = getattr(args, "max_records", None)
    if max_records and args.dataset == "mpii":  # COCO records are cut below
        argv += ["--max-valid-records", str(max_records)]
    experiment = Experiment(config_lib.parse_args(args.dataset, argv))
    records = experiment.valid_records
    if args.dataset == "coco" and max_records:
        records = records[:max_records]
    truth = experiment.ground_truth if args.dataset == "mpii" else experiment.val_annotations
    return records, truth
