"""Mass-displacement voting ops.

- `mass_displacement.py`: the public function (`mdn_tf.mass_displacement`)
  and the choice of implementation;
- `dispatch.py`: the layer's entry, which picks the path by Keras backend
  and imports TensorFlow only on its own backend;
- `voting_config.py`, `shapes.py`: argument and shape checking shared by
  every path;
- `voting_tf.py`: the pure-TensorFlow implementation;
- `voting_keras.py`: the `keras.ops` implementation (every Keras backend),
  with `segments.py` (segment sums per backend) and `any_backend.py` (the
  entry on the JAX and PyTorch backends);
- `custom_op.py`: the compiled op's loader and wrapper.
"""
