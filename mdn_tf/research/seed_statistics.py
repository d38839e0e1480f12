"""Statistics over training seeds: spread of one configuration, paired differences.

A score from one training run ranks nothing: on the built-in sample the
same configuration moves by several PCKh points from seed to seed. These
functions turn per-seed scores into what `training/ablation.py` reports:

- `summarize(values)`: mean and sample standard deviation (n - 1).
- `paired_difference(a, b)`: a - b seed by seed (both runs of seed s share
  the seed's initialisation and data order), the mean difference and its
  two-sided Student-t confidence interval, which is narrower than comparing
  two unpaired means whenever the seeds' luck is shared.

Pure NumPy/SciPy; every number is checked against hand-computed values in
`tests/test_seed_statistics.py`.
"""

import math

import numpy as np
import scipy.stats


def _as_scores(name, values):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of scores. "
                         f"Received: {name}.shape={values.shape}")
    return values


def summarize(values):
    """Mean and sample standard deviation of per-seed scores.

    Args:
        values: `[S]` scores, one per seed.

    Returns:
        A dict: "n", "mean", "std" (ddof = 1; NaN for a single seed) and
        "values" (a list).

    Raises:
        ValueError: for an empty or multi-dimensional `values`.
    """
    values = _as_scores("values", values)
    std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return {"n": int(values.size), "mean": float(np.mean(values)), "std": std,
            "values": values.tolist()}


def paired_difference(a, b, confidence=0.95):
    """Mean of the per-seed differences a - b with a Student-t interval.

    Args:
        a: `[S]` scores of configuration A, seed by seed.
        b: `[S]` scores of configuration B for the same seeds, same order.
        confidence: coverage of the two-sided interval. Defaults to 0.95.

    Returns:
        A dict: "n", "differences" (list), "mean", "std" (ddof = 1), and
        "low", "high": mean -/+ t_{(1+confidence)/2, n-1} * std / sqrt(n)
        (NaN for a single seed).

    Raises:
        ValueError: when `a` and `b` differ in length, or for a bad
            `confidence`.
    """
    a, b = _as_scores("a", a), _as_scores("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold one score per seed each, in the same order. "
                         f"Received: len(a)={a.size}, len(b)={b.size}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1). Received: confidence={confidence!r}")
    differences = a - b
    summary = summarize(differences)
    n = summary["n"]
    if n > 1:
        half = scipy.stats.t.ppf(0.5 + confidence / 2.0, n - 1) * summary["std"] / math.sqrt(n)
    else:
        half = math.nan
    return {"n": n, "differences": differences.tolist(), "mean": summary["mean"],
            "std": summary["std"], "low": summary["mean"] - half,
            "high": summary["mean"] + half}
