"""Pose data: readers, built-in sample data, the tf.data pipeline and MDN targets.

    from mdn_tf.data import build_dataset, mpii, coco, sample_data
    paths = sample_data.sample_data()            # synthetic MPII/COCO files, cached
    records = mpii.load_annotations(paths.mpii_train)
    dataset = build_dataset(records, "mpii", is_training=True, batch_size=16)

See docs/data.md.
"""

from mdn_tf.data import coco, mpii, sample_data
from mdn_tf.data.pipeline import build_dataset, parse_example
from mdn_tf.data.records import PoseRecord
from mdn_tf.data.targets import MDNCodec

__all__ = ["MDNCodec", "PoseRecord", "build_dataset", "coco", "mpii", "parse_example", "sample_data"]
