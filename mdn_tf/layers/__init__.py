"""Keras layers of mdn_tf."""

from mdn_tf.layers.mass_displacement import MassDisplacement
