"""Measurements that explain a PCKh score: error bins and the shape of map peaks.

Used by `training/diagnose_noisy_or.py` to find why one voting rule scores
below another. Pure NumPy, tested against hand-counted examples.

- `error_bins`: where the errors of annotated joints fall, in head sizes:
  precise (<= 0.1), correct (<= 0.5), near miss (<= 1) and gross miss
  (> 1: another mode, a wrong part or a distractor was picked).
- `peak_statistics`: how flat the top of each map is: whether its maximum is
  saturated (a noisy-OR probability at 1 in float32), how many pixels share
  the top within a tolerance, and how far apart those pixels lie (two
  separate modes tied at the top cannot be told apart by an arg-max).

Shapes: N people, J joints, H x W map size.
"""

import numpy as np

from mdn_tf.evaluation.pckh import EXCLUDED_FROM_MEAN

ERROR_BINS = (("precise (<=0.1)", 0.0, 0.1), ("correct (0.1-0.5]", 0.1, 0.5),
              ("near miss (0.5-1]", 0.5, 1.0), ("gross miss (>1)", 1.0, np.inf))


def error_bins(errors, annotated):
    """Percent of annotated joints per error bin.

    Args:
        errors: `[N, J]` errors in head sizes (`pckh.normalised_errors`).
        annotated: `[N, J]` bool.

    Returns:
        `{bin name: percent}` over the annotated joints (sums to 100).
    """
    errors, annotated = np.asarray(errors, np.float64), np.asarray(annotated, bool)
    values = errors[annotated]
    total = max(values.size, 1)
    result = {}
    for name, low, high in ERROR_BINS:
        inside = (values > low) & (values <= high) if low > 0 else values <= high
        result[name] = 100.0 * np.count_nonzero(inside) / total
    return result


def peak_statistics(maps, tolerance=1e-3, saturation=1.0 - 1e-6):
    """How flat and how ambiguous the tops of the maps are.

    Args:
        maps: `[N, H, W, J]` final maps.
        tolerance: pixels within `tolerance` of a map's maximum share its top.
            Defaults to 1e-3.
        saturation: a maximum at or above this is saturated. Defaults to
            1 - 1e-6.

    Returns:
        A dict over the N * J maps: "saturated" (percent of maps whose
        maximum is saturated), "top_pixels" (mean number of pixels within
        `tolerance` of the maximum), "split_top" (percent of maps whose top
        pixels lie more than 2 pixels apart: two or more modes at the top).
    """
    maps = np.asarray(maps, np.float64)
    n, h, w, j = maps.shape
    per_map = np.moveaxis(maps, -1, 1).reshape(n * j, h * w)
    peak = per_map.max(axis=1, keepdims=True)
    top = per_map >= peak - tolerance
    rows, cols = np.divmod(np.arange(h * w), w)
    spreads = []
    for mask in top:
        r, c = rows[mask], cols[mask]
        spreads.append(max(r.max() - r.min(), c.max() - c.min()))
    return {
        "saturated": 100.0 * np.mean(peak[:, 0] >= saturation),
        "top_pixels": float(top.sum(axis=1).mean()),
        "split_top": 100.0 * np.mean(np.asarray(spreads) > 2),
    }


def bootstrap_pckh_error(errors, annotated, threshold=0.5, samples=1000, seed=0):
    """Sampling error of PCKh Mean: its standard deviation over people resampled.

    Joints of one person are not independent (one bad crop misses many), so
    people, not joints, are resampled with replacement.

    Args:
        errors: `[N, 16]` errors in head sizes.
        annotated: `[N, 16]` bool.
        threshold: PCKh threshold. Defaults to 0.5.
        samples: bootstrap resamples. Defaults to 1000.
        seed: of the resampling. Defaults to 0.

    Returns:
        The standard deviation (percent points) of PCKh Mean over resamples.
    """
    errors, annotated = np.asarray(errors, np.float64), np.asarray(annotated, bool)
    pooled = [j for j in range(annotated.shape[1]) if j not in EXCLUDED_FROM_MEAN]
    correct = ((errors <= threshold) & annotated)[:, pooled].sum(axis=1)
    counted = annotated[:, pooled].sum(axis=1)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(errors), size=(samples, len(errors)))
    scores = 100.0 * correct[picks].sum(axis=1) / np.maximum(counted[picks].sum(axis=1), 1)
    return float(np.std(scores, ddof=1))
