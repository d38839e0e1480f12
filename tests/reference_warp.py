"""NumPy statement of the STN baseline's backward warp, the slow way."""

import numpy as np


def backward_warp(maps, ox, oy, edges, num_targets, combine):
    """Reads each edge's source map at x + o(x) (bilinear, zero off the map)
    and combines the edges of each target map with `combine`."""
    batch, height, width, _ = maps.shape
    out = np.zeros((batch, height, width, num_targets)) if combine != "noisy_or" else np.ones(
        (batch, height, width, num_targets)
    )
    for b in range(batch):
        for e, (s, t) in enumerate(edges):
            for y in range(height):
                for x in range(width):
                    px, py = x + ox[b, y, x, e], y + oy[b, y, x, e]
                    value = 0.0
                    for cy in (np.floor(py), np.floor(py) + 1):
                        for cx in (np.floor(px), np.floor(px) + 1):
                            w = max(0, 1 - abs(px - cx)) * max(0, 1 - abs(py - cy))
                            if 0 <= cx < width and 0 <= cy < height:
                                value += w * maps[b, int(cy), int(cx), s]
                    if combine == "additive":
                        out[b, y, x, t] += value
                    elif combine == "max":
                        out[b, y, x, t] = max(out[b, y, x, t], value)
                    else:
                        out[b, y, x, t] *= 1 - value
    return 1 - out if combine == "noisy_or" else out
