"""Mass-displacement voting ops: the public function and its implementations."""

from mdn_tf.ops.mass_displacement import mass_displacement
