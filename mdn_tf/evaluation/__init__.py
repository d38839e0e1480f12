"""Evaluation: MPII PCKh (pure NumPy) and COCO OKS AP (pycocotools)."""

from mdn_tf.evaluation.coco_ap import coco_keypoint_ap, format_coco_table, make_results, oks_nms
from mdn_tf.evaluation.mpii_submission import read_mpii_predictions, write_mpii_predictions
from mdn_tf.evaluation.pckh import format_pckh_table, mpii_pckh

__all__ = [
    "coco_keypoint_ap",
    "format_coco_table",
    "format_pckh_table",
    "make_results",
    "mpii_pckh",
    "oks_nms",
    "read_mpii_predictions",
    "write_mpii_predictions",
]
