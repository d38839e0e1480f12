"""Seed statistics of the ablation against values computed by hand."""

import math

import pytest

from mdn_tf.research.seed_statistics import paired_difference, summarize


def test_summarize_gives_mean_and_sample_std():
    # mean 2; squared deviations 1, 0, 1 -> variance 2 / (3 - 1) = 1.
    result = summarize([1.0, 2.0, 3.0])
    assert result["n"] == 3 and result["mean"] == 2.0
    assert result["std"] == pytest.approx(1.0)
    assert result["values"] == [1.0, 2.0, 3.0]


def test_summarize_of_one_seed_has_no_spread():
    result = summarize([68.31])
    assert result["mean"] == 68.31 and math.isnan(result["std"])


def test_paired_difference_matches_a_hand_computed_t_interval():
    # The seeds: additive MDN minus no voting.
    mdn, baseline = [71.02, 69.05, 67.69], [68.31, 64.61, 59.06]
    result = paired_difference(mdn, baseline)
    # differences 2.71, 4.44, 8.63; mean 5.26
    assert result["differences"] == pytest.approx([2.71, 4.44, 8.63])
    assert result["mean"] == pytest.approx(5.26)
    # deviations -2.55, -0.82, 3.37: sum of squares 6.5025 + 0.6724 + 11.3569 = 18.5318
    std = math.sqrt(18.5318 / 2)
    assert result["std"] == pytest.approx(std)
    # t(0.975, 2) = 4.302653; half width 4.302653 * std / sqrt(3)
    half = 4.302653 * std / math.sqrt(3)
    assert result["low"] == pytest.approx(5.26 - half, abs=1e-4)
    assert result["high"] == pytest.approx(5.26 + half, abs=1e-4)


def test_paired_difference_of_two_seeds_uses_t_with_one_degree_of_freedom():
    result = paired_difference([3.0, 5.0], [1.0, 1.0], confidence=0.9)
    # differences 2, 4: mean 3, std sqrt(2); t(0.95, 1) = 6.313752
    half = 6.313752 * math.sqrt(2) / math.sqrt(2)
    assert result["low"] == pytest.approx(3.0 - half, abs=1e-5)
    assert result["high"] == pytest.approx(3.0 + half, abs=1e-5)


def test_paired_difference_of_one_seed_has_no_interval():
    result = paired_difference([3.0], [1.0])
    assert result["mean"] == 2.0 and math.isnan(result["low"]) and math.isnan(result["high"])


def test_bad_scores_name_the_argument():
    with pytest.raises(ValueError, match=r"same order. Received: len\(a\)=2, len\(b\)=3"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"values must be a non-empty 1-D .* Received"):
        summarize([])
    with pytest.raises(ValueError, match="confidence must be in"):
        paired_difference([1.0], [2.0], confidence=95)
