"""mdn_tf: Mass Displacement Networks (Neverova & Kokkinos, BMVC 2018) for TensorFlow/Keras.

    from mdn_tf import MassDisplacement, mass_displacement

Subpackages, imported on demand so that importing the layer stays cheap:
`mdn_tf.data` (readers, sample data, tf.data pipeline, MDN targets),
`mdn_tf.models` (ResNet-OS16, Hourglass, small; baseline/posthoc/stn/mdn),
`mdn_tf.losses`, `mdn_tf.training` (the train_mpii/train_coco run),
`mdn_tf.evaluation` (PCKh, COCO AP), `mdn_tf.inference` (decoding, flip
test) and `mdn_tf.export` (SavedModel for TF Serving).
"""

from mdn_tf.layers.mass_displacement import MassDisplacement
from mdn_tf.ops.mass_displacement import mass_displacement

__version__ = "0.1.0"
__all__ = ["MassDisplacement", "mass_displacement", "__version__"]
