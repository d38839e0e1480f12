"""Evaluation: MPII PCKh (pure NumPy), COCO OKS AP (pycocotools), and model runners."""

from mdn_tf.evaluation.coco_ap import coco_keypoint_ap, format_coco_table, make_results, oks_nms
from mdn_tf.evaluation.evaluate_model import evaluate_coco, evaluate_mpii, predict_records
from mdn_tf.evaluation.mpii_submission import read_mpii_predictions, write_mpii_predictions
from mdn_tf.evaluation.pckh import format_pckh_table, mpii_pckh

__all__ = [
    "coco_keypoint_ap",
    "evaluate_coco",
    "evaluate_mpii",
    "format_coco_table",
    "format_pckh_table",
    "make_results",
    "mpii_pckh",
    "oks_nms",
    "predict_records",
    "read_mpii_predictions",
    "write_mpii_predictions",
]
