"""Pose networks of mdn_tf: backbones, heads, variants and the builder.

    from mdn_tf.models import build_pose_model
    model = build_pose_model("resnet50", variant="mdn", num_joints=16)

Layout: `resnet_os16.py` (dilated Keras ResNets), `hourglass.py` (stacked
hourglass blocks), `small_backbone.py` (CPU-sized network), `heads.py`
(bottleneck, upsampling, heads, variants), `stn_warp.py` (the STN baseline's
backward warp), `builder.py` (`build_pose_model` and its output names).
"""

# Registers the loss classes that a model saved after `compile()` refers to,
# so `keras.models.load_model` works once `mdn_tf.models` is imported.
from mdn_tf import losses as _losses  # noqa: F401
from mdn_tf.models.builder import (
    BACKBONES,
    build_pose_model,
    displacement_scales,
    resolve_edges,
)
from mdn_tf.models.heads import VARIANTS, CaffePreprocess, ScaleChannels, StopGradient
from mdn_tf.models.resnet_os16 import build_resnet_os16
from mdn_tf.models.small_backbone import build_small_backbone
from mdn_tf.models.stn_warp import BilinearWarp, warp_bilinear

__all__ = [
    "BACKBONES",
    "VARIANTS",
    "BilinearWarp",
    "CaffePreprocess",
    "ScaleChannels",
    "StopGradient",
    "build_pose_model",
    "build_resnet_os16",
    "build_small_backbone",
    "displacement_scales",
    "resolve_edges",
    "warp_bilinear",
]
