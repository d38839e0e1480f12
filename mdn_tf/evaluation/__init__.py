"""Evaluation: MPII PCKh and COCO OKS AP (pure NumPy and pycocotools)."""

from mdn_tf.evaluation.pckh import format_pckh_table, mpii_pckh

__all__ = ["mpii_pckh", "format_pckh_table"]
