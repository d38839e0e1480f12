"""Where each dataset's files are, and one call that loads a split of it.

    from mdn_tf.data.datasets import load_split
    valid = load_split("mpii", "valid")                      # the built-in sample
    valid = load_split("coco", "valid", "/data/coco", input_size=(256, 192))

A dataset is the built-in sample (`data_dir=None`, generated once into the
cache) or a folder in the official layout (`LAYOUTS`). Training, evaluate,
visualize, predict's checks, check-data, the ablation and the diagnosis
all find files here, so a layout is written down once, and a command reads
only the split it needs: evaluating on COCO never opens the training
annotations.
"""

import dataclasses
import os

from mdn_tf.data import coco, mpii, sample_data
from mdn_tf.skeleton import DATASETS

SPLITS = ("train", "valid")

# Official layouts, relative to --data-dir: (annotations, images, ground truth).
LAYOUTS = {
    "mpii": {
        "train": ("annot/train.json", "images", None),
        "valid": ("annot/valid.json", "images", "annot/gt_valid.mat"),
    },
    "coco": {
        "train": ("annotations/person_keypoints_train2017.json", "train2017", None),
        "valid": ("annotations/person_keypoints_val2017.json", "val2017", None),
    },
}


@dataclasses.dataclass(frozen=True)
class SplitFiles:
    """The files of one split: annotations, image folder, MPII ground truth."""

    annotations: str
    images: str
    ground_truth: str = None  # MPII validation only: gt_valid.mat


@dataclasses.dataclass
class Split:
    """One loaded split.

    `records` are `PoseRecord`s; `ground_truth` is the MPII ground-truth
    dict (`mpii.load_ground_truth`) of the validation split, else None;
    `files.annotations` is what COCO AP is scored against.
    """

    dataset: str
    name: str
    files: SplitFiles
    records: list
    ground_truth: dict = None


def check_dataset(dataset, split=None):
    """Raises ValueError naming the argument unless both are known."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}. Received: dataset={dataset!r}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")


def split_files(dataset, split, data_dir=None):
    """The `SplitFiles` of `split` in `data_dir` (None: the built-in sample, generated once)."""
    check_dataset(dataset, split)
    if data_dir is not None:
        annotations, images, truth = LAYOUTS[dataset][split]
        return SplitFiles(os.path.join(data_dir, annotations), os.path.join(data_dir, images),
                          truth and os.path.join(data_dir, truth))
    paths = sample_data.sample_data()  # generated on first use
    if dataset == "mpii":
        annotations = paths.mpii_train if split == "train" else paths.mpii_valid
        truth = paths.mpii_gt_valid if split == "valid" else None
        return SplitFiles(annotations, paths.mpii_images, truth)
    if split == "train":
        return SplitFiles(paths.coco_train, paths.coco_train_images)
    return SplitFiles(paths.coco_val, paths.coco_val_images)


def load_split(dataset, split, data_dir=None, input_size=None, detections=None,
               max_records=None):
    """Reads one split's records (and the MPII validation ground truth).

    Args:
        dataset: "mpii" or "coco".
        split: "train" or "valid".
        data_dir: the dataset folder (`LAYOUTS`); None: the built-in sample.
        input_size: `(H, W)` of the network input: COCO boxes are widened
            to its aspect ratio. Required for COCO.
        detections: COCO validation: a detector-results JSON whose boxes
            replace the ground-truth ones.
        max_records: keep only the first N people (MPII: the ground truth
            too; COCO AP is still scored against the whole annotation file).

    Returns:
        A `Split`.
    """
    files = split_files(dataset, split, data_dir)
    truth = None
    if dataset == "mpii":
        records = mpii.load_annotations(files.annotations, image_dir=files.images,
                                        gt_file=files.ground_truth)
        if files.ground_truth:
            truth = mpii.load_ground_truth(files.ground_truth)
    else:
        if input_size is None:
            raise ValueError("input_size (H, W) is required for COCO: boxes are widened to "
                             "the network's aspect ratio. Received: input_size=None")
        records = coco.load_annotations(
            files.annotations, detections=detections if split == "valid" else None,
            image_dir=files.images, input_size=tuple(input_size),
        )
    if max_records:
        records = records[:max_records]
        if truth is not None:
            truth = {key: value[:max_records] for key, value in truth.items()}
    return Split(dataset, split, files, records, truth)
