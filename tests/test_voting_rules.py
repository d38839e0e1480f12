"""Post-hoc scoring with many voting rules from one network pass."""

import numpy as np
import pytest

from mdn_tf.data import mpii
from mdn_tf.data.sample_data import sample_data
from mdn_tf.evaluation import predict_records
from mdn_tf.research.voting_rules import VotingRule, predict_with_voting_rules
from mdn_tf.models import build_pose_model

INPUT = (64, 64, 3)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    paths = sample_data(tmp_path_factory.mktemp("sample"), num_mpii_train=1, num_mpii_valid=6,
                        num_coco_train=1, num_coco_val=1)
    return mpii.load_annotations(paths.mpii_valid, gt_file=paths.mpii_gt_valid)


def _posthoc_model(combine="noisy_or", kernel="bilinear", kernel_size=5):
    return build_pose_model("small", "posthoc", edges="within_part", combine=combine,
                            kernel=kernel, kernel_size=kernel_size, input_shape=INPUT,
                            small_filters=8)


@pytest.mark.parametrize("rule", [VotingRule("additive"), VotingRule("noisy_or", "gaussian", 5),
                                  VotingRule("max", "gaussian", 3)], ids=lambda r: r.name)
def test_one_pass_with_many_rules_equals_a_model_built_with_each_rule(records, rule):
    trained = _posthoc_model()
    rng = np.random.default_rng(0)
    # Non-zero displacement heads, so the votes really move.
    trained.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype)
                         for w in trained.get_weights()])
    rules = [VotingRule("additive"), VotingRule("noisy_or", "gaussian", 5),
             VotingRule("max", "gaussian", 3)]
    edges = [(j, j) for j in range(16)]
    predicted = predict_with_voting_rules(trained, records, "mpii", rules, edges, batch_size=4)
    rebuilt = _posthoc_model(rule.combine, rule.kernel, rule.kernel_size)
    rebuilt.set_weights(trained.get_weights())
    expected, _ = predict_records(rebuilt, records, "mpii", batch_size=4, verbose=False)
    np.testing.assert_allclose(predicted[rule.name], expected, atol=1e-3)


def test_a_model_without_displacements_is_refused(records):
    baseline = build_pose_model("small", "baseline", input_shape=INPUT, small_filters=8)
    with pytest.raises(ValueError, match="model must predict displacements"):
        predict_with_voting_rules(baseline, records, "mpii", [VotingRule("additive")],
                                  [(j, j) for j in range(16)])
