"""The validation split a command scores or draws (evaluate, visualize)."""


def load_validation(args, input_size):
    """Validation records, and the MPII ground truth or the COCO annotation file.

    Reads the validation files only (`mdn_tf.data.datasets.load_split`):
    evaluating on COCO never opens the training annotations.

    Args:
        args: a namespace with `dataset` ("mpii" or "coco"), `data_dir`
            (None: the built-in sample), `max_records` (None or keep the
            first N people) and, for evaluate, `detections` (COCO person
            boxes; visualize draws ground-truth boxes).
        input_size: `(H, W)` of the model's input.

    Returns:
        `(records, truth)`: the `PoseRecord`s, and the ground-truth dict
        (MPII) or the annotation file's path (COCO).
    """
    from mdn_tf.data.datasets import load_split

    split = load_split(args.dataset, "valid", args.data_dir, input_size,
                       detections=getattr(args, "detections", None),
                       max_records=args.max_records)
    truth = split.ground_truth if args.dataset == "mpii" else split.files.annotations
    return split.records, truth
