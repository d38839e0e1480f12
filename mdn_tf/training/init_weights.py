"""Start a network from another one's weights, layer by layer name (`--init-weights`).

The ablation's paired design fine-tunes several variants (post-hoc, MDN,
baseline) from one shared checkpoint per seed. The variants share every
layer name of the backbone and heads; a variant without displacement heads
(baseline) simply takes fewer layers. Weights are matched by layer name
and shape, never by position.
"""

import keras

import mdn_tf.models  # noqa: F401  (registers the layers of model.keras)


def copy_weights_by_name(source, target):
    """Copies the weights of every `target` layer that `source` has too.

    Args:
        source: a built `keras.Model` (for example a loaded `model.keras`).
        target: the `keras.Model` to initialise.

    Returns:
        The names of the layers copied.

    Raises:
        ValueError: when a layer of both models has weights of other shapes
            (naming the layer and both shapes), or when no layer with weights
            is shared.
    """
    sources = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        weights = layer.get_weights()
        if not weights or layer.name not in sources:
            continue
        values = sources[layer.name].get_weights()
        shapes = [w.shape for w in weights]
        if [v.shape for v in values] != shapes:
            raise ValueError(
                f"--init-weights: layer {layer.name!r} has weights of shapes {shapes} here "
                f"but {[v.shape for v in values]} in the initial model"
            )
        layer.set_weights(values)
        copied.append(layer.name)
    if not copied:
        raise ValueError("--init-weights: the initial model shares no layer with weights "
                         f"with this one. Received layers: {sorted(sources)}")
    return copied


def load_initial_weights(path, target):
    """Loads `path` (a `.keras` model) and copies its weights into `target` by name."""
    return copy_weights_by_name(keras.models.load_model(path, compile=False), target)
