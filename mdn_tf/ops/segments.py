"""Segment sum and maximum over flat indices, one function per Keras backend.

The only backend-specific code of the `keras.ops` voting path
(`voting_keras.py`). `keras.ops.segment_sum` and `segment_max` are used
where they fit; PyTorch gets its own functions because Keras's PyTorch
implementation casts the data to float32 (float64 votes would lose their
precision, and the float64 gradient checks with them) and needs a second
copy of the indices per element.

Both functions take 1-D `data` and `segment_ids` of one length and a Python
int `num_segments` (static, as `jax.jit` needs), with every id in
`[0, num_segments)`; they return `[num_segments]` in the dtype of `data`.
`segment_sum` is differentiable in `data`; `segment_max` is only used on
values whose gradient is stopped, and an empty segment holds a value
`<= 0` (callers take `max(0, .)`).
"""

import keras


def _segment_sum_keras(data, segment_ids, num_segments):
    return keras.ops.segment_sum(data, segment_ids, num_segments=num_segments)


def _segment_max_keras(data, segment_ids, num_segments):
    return keras.ops.segment_max(data, segment_ids, num_segments=num_segments)


def _segment_sum_torch(data, segment_ids, num_segments):
    import torch

    totals = torch.zeros(num_segments, dtype=data.dtype, device=data.device)
    return totals.index_add(0, segment_ids.to(torch.int64), data)


def _segment_max_torch(data, segment_ids, num_segments):
    import torch

    # Starting from 0 instead of -inf: callers want max(0, .) anyway.
    best = torch.zeros(num_segments, dtype=data.dtype, device=data.device)
    return best.scatter_reduce(0, segment_ids.to(torch.int64), data, "amax", include_self=True)


_BY_BACKEND = {"torch": (_segment_sum_torch, _segment_max_torch)}


def _functions():
    return _BY_BACKEND.get(keras.backend.backend(), (_segment_sum_keras, _segment_max_keras))


def segment_sum(data, segment_ids, num_segments):
    """Sum of `data` per segment; see the module docstring."""
    return _functions()[0](data, segment_ids, num_segments)


def segment_max(data, segment_ids, num_segments):
    """Maximum of `data` per segment (no gradient); see the module docstring."""
    return _functions()[1](data, segment_ids, num_segments)
