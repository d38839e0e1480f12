"""The pure-TensorFlow vote in forms every ONNX converter and runtime takes.

ONNX and OpenVINO exports trace the vote under `portable_math()`; everywhere
else (training, SavedModel, LiteRT, whose builtins cover them) the library
operators stay. Two differences:

- `log1p` and `expm1`: the noisy-OR sums log(1 - v) and turns the sum back
  with them, which keeps small probabilities exact. ONNX has neither
  operator (tf2onnx cannot map them), so they are written with the classic
  cancellation-free identities (Goldberg 1991, "What every computer scientist
  should know about floating-point arithmetic", Theorem 4; Kahan's expm1):
  within 2 ulps of the library functions (tested), from `Log`, `Exp`,
  divisions and selects.
- `segment_sum` and `segment_max`: tf2onnx turns `unsorted_segment_sum/max`
  into sorting, `Unique` and dense scatters (measured: 95% of ONNX Runtime's
  time on the main job's graph). `tensor_scatter_nd_add/max` into zeros map
  to one ONNX `ScatterND` with reduction add (opset 16) or max (opset 18),
  which the export rewrites as `ScatterElements` (ONNX Runtime's ScatterND
  reductions race across threads; `deploy.formats`).
  Starting the maximum at 0 instead of the lowest float is the same vote:
  max mode is max(0, max v) anyway.
"""

import tensorflow as tf

from mdn_tf.ops.thread_switch import ThreadSwitch

_PORTABLE = ThreadSwitch()


def portable_math():
    """Within this context (this thread) the functions below use their ONNX-mappable forms."""
    return _PORTABLE.turned_on()


def _active():
    return _PORTABLE.on


def log1p(x):
    """log(1 + x); under `portable_math()`, log(u) * x / (u - 1) with u = 1 + x."""
    if not _active():
        return tf.math.log1p(x)
    u = 1.0 + x
    rounded_away = tf.equal(u, 1.0)  # |x| below half an ulp of 1: log1p(x) = x
    denominator = tf.where(rounded_away, tf.ones_like(u), u - 1.0)
    return tf.where(rounded_away, x, tf.math.log(u) * (x / denominator))


def expm1(x):
    """exp(x) - 1; under `portable_math()`, (u - 1) * x / log(u) with u = exp(x)."""
    if not _active():
        return tf.math.expm1(x)
    u = tf.exp(x)
    near_one = tf.equal(u, 1.0)  # expm1(x) = x
    saturated = tf.equal(u - 1.0, -1.0)  # exp(x) underflowed or is below an ulp of 1: -1
    log_u = tf.math.log(tf.where(near_one | saturated, 2.0 * tf.ones_like(u), u))
    value = (u - 1.0) * (x / log_u)
    return tf.where(near_one, x, tf.where(saturated, -tf.ones_like(u), value))


def segment_sum(data, segment_ids, num_segments):
    """`tf.math.unsorted_segment_sum`; under `portable_math()` a ScatterND-add into zeros."""
    if not _active():
        return tf.math.unsorted_segment_sum(data, segment_ids, num_segments)
    zeros = tf.zeros(tf.reshape(num_segments, [1]), data.dtype)
    return tf.tensor_scatter_nd_add(zeros, segment_ids[:, None], data)


def segment_max(data, segment_ids, num_segments):
    """max(0, segment max): `unsorted_segment_max` clamped at 0; under `portable_math()`
    a ScatterND-max into zeros (the same values)."""
    if not _active():
        return tf.maximum(tf.math.unsorted_segment_max(data, segment_ids, num_segments), 0.0)
    zeros = tf.zeros(tf.reshape(num_segments, [1]), data.dtype)
    return tf.tensor_scatter_nd_max(zeros, segment_ids[:, None], data)
