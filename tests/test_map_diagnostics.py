"""Error bins and peak statistics against hand-counted examples."""

import numpy as np
import pytest

from mdn_tf.research.map_diagnostics import bootstrap_pckh_error, error_bins, peak_statistics


def test_error_bins_count_annotated_joints_only():
    errors = np.array([[0.05, 0.3, 0.7, 2.0], [0.1, 0.5, 1.0, 9.0]])
    annotated = np.array([[True, True, True, True], [True, True, True, False]])
    bins = error_bins(errors, annotated)
    # 7 annotated: <=0.1: 0.05, 0.1; (0.1, 0.5]: 0.3, 0.5; (0.5, 1]: 0.7, 1.0; >1: 2.0
    assert bins == pytest.approx({"precise (<=0.1)": 200 / 7, "correct (0.1-0.5]": 200 / 7,
                                  "near miss (0.5-1]": 200 / 7, "gross miss (>1)": 100 / 7})


def test_peak_statistics_find_saturated_flat_and_split_tops():
    maps = np.zeros((1, 8, 8, 3))
    maps[0, 2, 2, 0] = 0.9  # one clear peak
    maps[0, 3, 3, 1] = maps[0, 3, 4, 1] = 1.0  # saturated, two adjacent top pixels
    maps[0, 1, 1, 2] = maps[0, 6, 6, 2] = 1.0  # saturated, two modes 5 pixels apart
    stats = peak_statistics(maps)
    assert stats["saturated"] == pytest.approx(200 / 3)
    assert stats["top_pixels"] == pytest.approx(5 / 3)
    assert stats["split_top"] == pytest.approx(100 / 3)


def test_bootstrap_error_is_zero_when_every_person_scores_alike():
    errors = np.zeros((50, 16))
    errors[:, 0] = 1.0  # every person misses the same joint: no spread between people
    assert bootstrap_pckh_error(errors, np.ones((50, 16), bool)) == pytest.approx(0.0, abs=1e-9)


def test_bootstrap_error_matches_the_binomial_error_of_independent_people():
    rng = np.random.default_rng(1)
    # One counted joint per person, right with probability 0.7: SE = sqrt(0.21 / N).
    errors = np.where(rng.uniform(size=(2000, 16)) < 0.7, 0.0, 1.0)
    annotated = np.zeros((2000, 16), bool)
    annotated[:, 0] = True
    expected = 100.0 * np.sqrt(0.21 / 2000)
    assert bootstrap_pckh_error(errors, annotated, samples=2000) == pytest.approx(expected, rel=0.1)
