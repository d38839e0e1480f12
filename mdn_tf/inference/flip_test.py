"""Flip test: average the maps of an image and of its mirror.

With pixel centres at integers and crops whose edges map to the outer edges
of the border pixels (`mdn_tf.data.transforms`), mirroring the input crop
mirrors the output map exactly (x -> W - 1 - x at both resolutions), so the
mirrored maps only need their width axis reversed and their left/right joint
channels swapped back; no one-pixel shift is needed. In `keras.ops`, for
every backend and deployment format.

Shapes: N people, H x W map size, J joints.
"""

from keras import ops


def unflip_maps(maps, flip_permutation):
    """Maps predicted on mirrored crops, brought back to the original frame.

    Args:
        maps: `[N, H, W, J]` maps of mirrored crops.
        flip_permutation: `[J]` joint index each channel swaps with.
    """
    return ops.take(ops.flip(maps, axis=2), list(flip_permutation), axis=-1)


def flip_test_maps(predict_maps, crops, flip_permutation):
    """Averages `predict_maps(crops)` with the unflipped maps of the mirrors.

    Args:
        predict_maps: callable from crops `[N, h, w, 3]` to maps `[N, H, W, J]`.
        crops: `[N, h, w, 3]` network inputs.
        flip_permutation: `[J]` left/right permutation of the skeleton.

    Returns:
        `[N, H, W, J]` averaged maps.
    """
    both = ops.concatenate([crops, ops.flip(crops, axis=2)], axis=0)
    maps = predict_maps(both)
    original, mirrored = ops.split(maps, 2, axis=0)
    return 0.5 * (original + unflip_maps(mirrored, flip_permutation))
