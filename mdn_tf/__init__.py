"""mdn_tf: Mass Displacement Networks (Neverova & Kokkinos, BMVC 2018) for TensorFlow/Keras.

    from mdn_tf import MassDisplacement, mass_displacement

Subpackages, imported on demand so that importing the layer stays cheap:
`mdn_tf.data` (readers, sample data, tf.data pipeline, MDN targets),
`mdn_tf.models` (ResNet-OS16, Hourglass, small; baseline/posthoc/stn/mdn),
`mdn_tf.losses`, `mdn_tf.training` (the train_mpii/train_coco run),
`mdn_tf.evaluation` (PCKh, COCO AP), `mdn_tf.inference` (decoding, flip
test), `mdn_tf.export` (SavedModel for TF Serving), `mdn_tf.cli` (the
`mdn-tf` command) and `mdn_tf.cache` (the cache folder).

Importing `mdn_tf` imports the layer, and with it Keras (not TensorFlow,
which the layer loads only when Keras runs on it): that registers
`MassDisplacement` with Keras, so `.keras` files that hold it load after a
plain `import mdn_tf`. (A lazy import would start the `mdn-tf` command about
4 s sooner, but would make `import mdn_tf; keras.models.load_model(...)`
fail with "Could not locate class"; a library import must not have that trap.)
"""

from mdn_tf.layers.mass_displacement import MassDisplacement

__version__ = "0.1.0"
__all__ = ["MassDisplacement", "mass_displacement", "__version__"]


def __getattr__(name):
    # `mdn_tf.mass_displacement` is a TensorFlow function: loaded on first use,
    # so that `import mdn_tf` (and the layer) needs no TensorFlow on JAX or PyTorch.
    if name == "mass_displacement":
        from mdn_tf.ops.mass_displacement import mass_displacement

        return mass_displacement
    raise AttributeError(f"module 'mdn_tf' has no attribute {name!r}")
