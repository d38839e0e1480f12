"""Random voting inputs that exercise every rule of the layer's contract."""

import numpy as np

# Cross-part edges: self votes, a chain, two edges into one map, and a map
# (3) that receives votes only from other maps.
CROSS_PART_EDGES = [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0), (2, 3)]


def random_inputs(seed, batch=2, height=6, width=7, num_maps=3, num_edges=None, dtype="float32"):
    """Heatmaps in [0, 1] and offsets that land on, near and off the map,
    on exact integers, and (for a few pixels) nowhere at all (NaN, inf)."""
    rng = np.random.default_rng(seed)
    num_edges = num_maps if num_edges is None else num_edges
    heatmaps = rng.uniform(0.0, 1.0, (batch, height, width, num_maps))
    offsets_x = rng.normal(0.0, 2.5, (batch, height, width, num_edges))
    offsets_y = rng.normal(0.0, 2.5, (batch, height, width, num_edges))
    # Exact integer landings (with displacement_scale 1.25: 0.8 * 1.25 = 1).
    offsets_x[:, ::2, ::3] = np.round(offsets_x[:, ::2, ::3]) * 0.8
    offsets_y[:, ::2, ::3] = np.round(offsets_y[:, ::2, ::3]) * 0.8
    # Far off the map, and not finite.
    offsets_x[0, 1, 1, 0] = 40.0
    offsets_y[0, 2, 3, -1] = -1e30
    offsets_x[-1, 0, 0, 0] = np.nan
    offsets_y[-1, 1, 2, -1] = np.inf
    offsets_x[0, -1, -1, -1] = -np.inf
    # A few certain votes (c = 1) for the noisy-OR zero-factor path.
    heatmaps[:, 3, 3, :] = 1.0
    return heatmaps.astype(dtype), offsets_x.astype(dtype), offsets_y.astype(dtype)


def smooth_inputs(seed, batch=1, height=4, width=5, num_maps=2, num_edges=None):
    """float64 inputs away from every kink: heatmaps inside (0, 1), landing
    points with fractional parts far from 0 and 0.5 (bilinear cells and
    Gaussian windows do not change under a small perturbation)."""
    rng = np.random.default_rng(seed)
    num_edges = num_maps if num_edges is None else num_edges
    heatmaps = rng.uniform(0.1, 0.9, (batch, height, width, num_maps))

    def offsets():
        whole = rng.integers(-2, 3, (batch, height, width, num_edges))
        frac = rng.uniform(0.15, 0.35, whole.shape) + 0.5 * rng.integers(0, 2, whole.shape)
        return (whole + frac).astype("float64")

    return heatmaps, offsets(), offsets()
