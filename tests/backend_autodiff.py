"""Gradients and compilation on the running Keras backend, for the tests.

Keras has no backend-independent "gradient of this function" call, so each
backend's own autodiff sits here, one function per backend; the tests that
use it run unchanged under TensorFlow, JAX and PyTorch.
"""

import keras
import numpy as np


def _value_and_vjp_tensorflow(function, inputs, upstream):
    import tensorflow as tf

    tensors = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        output = function(*tensors)
    return output, tape.gradient(output, tensors, output_gradients=tf.constant(upstream))


def _value_and_vjp_jax(function, inputs, upstream):
    import jax

    def value_and_vjp(inputs, upstream):
        output, pullback = jax.vjp(function, *inputs)
        return output, pullback(upstream.astype(output.dtype))

    # One XLA program for the forward and the backward pass: a test pays one
    # compilation, and the gradient is the one `jax.jit` produces.
    return jax.jit(value_and_vjp)(list(inputs), upstream)


def _value_and_vjp_torch(function, inputs, upstream):
    import torch

    tensors = [keras.ops.convert_to_tensor(x).requires_grad_(True) for x in inputs]
    output = function(*tensors)
    grads = torch.autograd.grad(
        output, tensors, grad_outputs=torch.tensor(upstream, dtype=output.dtype,
                                                   device=output.device),
        allow_unused=True,
    )
    return output, [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]


_VALUE_AND_VJP = {
    "tensorflow": _value_and_vjp_tensorflow,
    "jax": _value_and_vjp_jax,
    "torch": _value_and_vjp_torch,
}


def value_and_vector_jacobian_product(function, inputs, upstream):
    """function(*inputs) and the gradients of sum(upstream * function(*inputs)).

    Args:
        function: takes backend tensors, returns one backend tensor.
        inputs: NumPy arrays.
        upstream: NumPy array shaped like the output.

    Returns:
        `(output, gradients)` as NumPy arrays, one gradient per input (zeros
        where the output does not depend on it).
    """
    output, grads = _VALUE_AND_VJP[keras.backend.backend()](function, inputs, upstream)
    return keras.ops.convert_to_numpy(output), [keras.ops.convert_to_numpy(g) for g in grads]


def jit(function):
    """`jax.jit` on JAX (static shapes, as inside `model.fit`); unchanged elsewhere."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(function)
    return function


def float64_available():
    """JAX computes in float32 unless x64 is on (JAX_ENABLE_X64=1)."""
    tensor = keras.ops.convert_to_tensor(np.zeros(1, "float64"))
    return keras.backend.standardize_dtype(tensor.dtype) == "float64"
