"""The finite-difference gradient check shared by the voting-gradient tests."""

import numpy as np
import tensorflow as tf


def assert_gradient_matches_finite_differences(function, value, delta=1e-6):
    """The analytic gradient of `function` at `value` is finite, non-zero and
    equals float64 central differences (`tf.test.compute_gradient`).

    Args:
        function: one float64 tensor in, one tensor out.
        value: float64 NumPy array, the point to differentiate at.
        delta: finite-difference step.
    """
    theoretical, numerical = tf.test.compute_gradient(function, [value], delta=delta)
    assert np.all(np.isfinite(theoretical[0]))
    assert np.abs(theoretical[0]).max() > 0, "the gradient should not vanish"
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-6)
