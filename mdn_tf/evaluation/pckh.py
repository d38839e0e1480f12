"""PCKh on MPII, computed as the standard evaluation does.

A joint is correct when its error is at most `threshold` times the head
size, 0.6 x the diagonal of the annotated head box. Rows of the table:
Head = head_top; Shoulder, Elbow, Wrist, Hip, Knee, Ankle are the mean of
the left and the right joint's PCKh; Mean pools every annotated joint except
pelvis and thorax. Pure NumPy; no TensorFlow needed.

Shapes: N people, J = 16 MPII joints.
"""

import numpy as np

from mdn_tf.data.mpii import load_ground_truth

HEAD_SIZE_FACTOR = 0.6
AUC_THRESHOLDS = np.linspace(0.0, 0.5, 51)

# MPII joint indices (see mdn_tf.skeleton.MPII) grouped into the table rows.
TABLE_ROWS = {
    "Head": (9,),
    "Shoulder": (12, 13),
    "Elbow": (11, 14),
    "Wrist": (10, 15),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
EXCLUDED_FROM_MEAN = (6, 7)  # pelvis, thorax


def normalised_errors(predictions, joints, head_boxes):
    """Per-joint error divided by the head size.

    Args:
        predictions: `[N, 16, 2]` predicted (x, y), 0-based pixels.
        joints: `[N, 16, 2]` ground truth (x, y), 0-based pixels.
        head_boxes: `[N, 4]` (x1, y1, x2, y2).

    Returns:
        `[N, 16]` errors in head sizes.
    """
    errors = np.linalg.norm(predictions - joints, axis=-1)
    diagonals = np.hypot(head_boxes[:, 2] - head_boxes[:, 0], head_boxes[:, 3] - head_boxes[:, 1])
    return errors / (HEAD_SIZE_FACTOR * diagonals)[:, None]


def pckh_table(errors, annotated, threshold=0.5):
    """The PCKh table (percent) from normalised errors.

    Args:
        errors: `[N, 16]` errors in head sizes.
        annotated: `[N, 16]` bool, True where the joint is annotated.
        threshold: PCKh threshold. Defaults to 0.5.

    Returns:
        dict Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Mean -> percent.
    """
    correct = (errors <= threshold) & annotated

    def percent(columns):
        count = annotated[:, columns].sum()
        return 100.0 * correct[:, columns].sum() / count if count else float("nan")

    table = {
        row: float(np.mean([percent([j]) for j in columns])) for row, columns in TABLE_ROWS.items()
    }
    pooled = [j for j in range(annotated.shape[1]) if j not in EXCLUDED_FROM_MEAN]
    table["Mean"] = percent(pooled)
    return table


def mpii_pckh(predictions, gt_file, threshold=0.5):
    """PCKh of MPII predictions against `gt_valid.mat`.

    Args:
        predictions: `[N, 16, 2]` (x, y), 0-based pixel coordinates in the
            original images, rows in the order of the validation split (the
            order of `valid.json` and `gt_valid.mat`).
        gt_file: path of `gt_valid.mat` (or a dict as returned by
            `mdn_tf.data.mpii.load_ground_truth`).
        threshold: PCKh threshold. Defaults to 0.5.

    Returns:
        dict with the table at `threshold` (Head ... Ankle, Mean, percent),
        "Mean@0.1" (PCKh@0.1 Mean) and "AUC" (mean of the Mean PCKh over the
        thresholds 0, 0.01, ..., 0.5, percent).

    Raises:
        ValueError: predictions of the wrong shape or row count.
    """
    truth = gt_file if isinstance(gt_file, dict) else load_ground_truth(gt_file)
    joints = np.asarray(truth["joints"], np.float64)
    predictions = np.asarray(predictions, np.float64)
    if predictions.shape != joints.shape:
        raise ValueError(
            f"predictions must have shape {list(joints.shape)} ([N, 16, 2], one row per "
            f"person of the ground truth). Received: shape {list(predictions.shape)}"
        )
    annotated = ~np.asarray(truth["missing"], bool)
    errors = normalised_errors(predictions, joints, np.asarray(truth["head_boxes"], np.float64))
    result = pckh_table(errors, annotated, threshold)
    result["Mean@0.1"] = pckh_table(errors, annotated, 0.1)["Mean"]
    result["AUC"] = float(np.mean([pckh_table(errors, annotated, t)["Mean"] for t in AUC_THRESHOLDS]))
    return result


def format_pckh_table(result, title="PCKh@0.5"):
    """A readable one-table summary of `mpii_pckh`'s result."""
    columns = list(TABLE_ROWS) + ["Mean", "Mean@0.1", "AUC"]
    header = f"{title:<10}" + "".join(f"{c:>9}" for c in columns)
    values = f"{'':<10}" + "".join(f"{result[c]:>9.2f}" for c in columns)
    return header + "\n" + values
