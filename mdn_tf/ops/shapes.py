"""Static shape checks of the voting inputs, free of any backend.

Shared by every path (the TensorFlow entry in `mass_displacement.py`, the
JAX/PyTorch entry in `any_backend.py` and the layer's `build`), so that a
wrong shape gets the same message everywhere. A shape may be a tuple, a
list, a `tf.TensorShape` (possibly of unknown rank) or a `torch.Size`;
None marks an unknown dimension.
"""

_LAYOUTS = {"heatmaps": "[B, H, W, J]", "offsets_x": "[B, H, W, E]",
            "offsets_y": "[B, H, W, E]"}


def _dims(shape):
    """`shape` as a tuple of ints and Nones, or None when its rank is unknown."""
    if shape is None or getattr(shape, "rank", 0) is None:  # tf.TensorShape(None)
        return None
    if hasattr(shape, "as_list"):
        shape = shape.as_list()
    return tuple(None if d is None else int(d) for d in shape)


def check_shapes(heatmaps_shape, offsets_x_shape, offsets_y_shape, config):
    """Checks static shapes and returns `config` resolved for J.

    Unknown dimensions (None) are accepted here and checked at run time.

    Raises:
        ValueError: wrong rank, an E that does not match the edges, or B, H, W
            that differ between the inputs.
    """
    named = {"heatmaps": _dims(heatmaps_shape), "offsets_x": _dims(offsets_x_shape),
             "offsets_y": _dims(offsets_y_shape)}
    for name, dims in named.items():
        if dims is not None and len(dims) != 4:
            raise ValueError(f"{name} must be a rank-4 tensor {_LAYOUTS[name]}. "
                             f"Received: {name}.shape={dims}")
    for axis, label in enumerate("BHW"):
        known = {name: dims[axis] for name, dims in named.items()
                 if dims is not None and dims[axis] is not None}
        if len(set(known.values())) > 1:
            received = ", ".join(f"{name}.shape={dims}" for name, dims in named.items())
            raise ValueError(f"heatmaps, offsets_x and offsets_y must share {label} "
                             f"(axis {axis}). Received: {received}")
    heatmaps = named["heatmaps"]
    if heatmaps is None or heatmaps[-1] is None:
        raise ValueError(
            "The number of heatmap channels J (last axis of heatmaps) must be known "
            f"when the graph is built. Received: heatmaps.shape={heatmaps}"
        )
    config = config.for_channels(heatmaps[-1])
    num_edges = len(config.sources)
    for name in ("offsets_x", "offsets_y"):
        dims = named[name]
        if dims is not None and dims[-1] is not None and dims[-1] != num_edges:
            expected = (f"E = J = {num_edges} (within-part voting, edges=None)"
                        if config.within_part else f"E = len(edges) = {num_edges}")
            raise ValueError(f"{name} must have one channel per voting edge: {expected}. "
                             f"Received: {name}.shape={dims}")
    return config
