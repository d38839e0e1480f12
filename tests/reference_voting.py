"""Independent NumPy statement of mass-displacement voting, the slow way.

Written from the equations, not from the implementation: for every output
pixel xo and every voting pixel x it evaluates K(xo - [x + s*o(x)]) directly
from the kernel's definition, with no taps, no flat indices, no log space.
Only meant for small maps in tests.
"""

import math

import numpy as np


def kernel_weight(kernel, dx, dy, landing_x, landing_y, out_x, out_y, kernel_size, sigma):
    """K(xo - x') for one output pixel and one landing point."""
    if kernel == "bilinear":
        return max(0.0, 1.0 - abs(dx)) * max(0.0, 1.0 - abs(dy))
    radius = kernel_size // 2
    centre_x = math.floor(landing_x + 0.5)
    centre_y = math.floor(landing_y + 0.5)
    if abs(out_x - centre_x) > radius or abs(out_y - centre_y) > radius:
        return 0.0
    return math.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))


def vote(
    heatmaps,
    offsets_x,
    offsets_y,
    combine="noisy_or",
    kernel="bilinear",
    kernel_size=5,
    sigma=None,
    edges=None,
    num_targets=None,
    displacement_scale=1.0,
):
    """Reference m for inputs in channels-last layout, computed in float64."""
    c = np.asarray(heatmaps, np.float64)
    ox = np.asarray(offsets_x, np.float64)
    oy = np.asarray(offsets_y, np.float64)
    batch, height, width, num_maps = c.shape
    if edges is None:
        edges = [(j, j) for j in range(num_maps)]
    if num_targets is None:
        num_targets = num_maps if not edges else 1 + max(t for _, t in edges)
    if sigma is None:
        sigma = kernel_size / 6.0
    if combine == "noisy_or":
        c = np.clip(c, 0.0, 1.0)

    out = np.zeros((batch, height, width, num_targets))
    for b in range(batch):
        for t in range(num_targets):
            for yo in range(height):
                for xo in range(width):
                    total, product, best = 0.0, 1.0, 0.0
                    for e, (source, target) in enumerate(edges):
                        if target != t:
                            continue
                        for y in range(height):
                            for x in range(width):
                                lx = x + displacement_scale * ox[b, y, x, e]
                                ly = y + displacement_scale * oy[b, y, x, e]
                                if not (math.isfinite(lx) and math.isfinite(ly)):
                                    continue
                                k = kernel_weight(
                                    kernel, xo - lx, yo - ly, lx, ly, xo, yo,
                                    kernel_size, sigma,
                                )
                                v = k * c[b, y, x, source]
                                total += v
                                product *= 1.0 - v
                                best = max(best, v)
                    out[b, yo, xo, t] = {
                        "additive": total,
                        "noisy_or": 1.0 - product,
                        "max": best,
                    }[combine]
    return out


def bilinear_gather(grid, offsets_x, offsets_y, displacement_scale=1.0):
    """Reads `grid` [B, H, W, J] at x + s*o(x) with bilinear weights.

    The transpose of additive bilinear within-part voting: off-map corners
    read zero, non-finite landing points read zero.
    """
    g = np.asarray(grid, np.float64)
    batch, height, width, num_maps = g.shape
    out = np.zeros_like(g)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                for j in range(num_maps):
                    lx = x + displacement_scale * offsets_x[b, y, x, j]
                    ly = y + displacement_scale * offsets_y[b, y, x, j]
                    if not (math.isfinite(lx) and math.isfinite(ly)):
                        continue
                    for yo in range(height):
                        for xo in range(width):
                            k = max(0.0, 1 - abs(xo - lx)) * max(0.0, 1 - abs(yo - ly))
                            out[b, y, x, j] += k * g[b, yo, xo, j]
    return out
