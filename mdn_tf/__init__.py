"""mdn_tf: Mass Displacement Networks (Neverova & Kokkinos, BMVC 2018) for TensorFlow/Keras.

    from mdn_tf import MassDisplacement, mass_displacement

Subpackages `mdn_tf.data`, `mdn_tf.models`, `mdn_tf.losses` and
`mdn_tf.evaluation` are imported on demand so that importing the layer stays
cheap.
"""

from mdn_tf.layers.mass_displacement import MassDisplacement
from mdn_tf.ops.mass_displacement import mass_displacement

__version__ = "0.1.0"
__all__ = ["MassDisplacement", "mass_displacement", "__version__"]
