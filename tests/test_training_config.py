"""Training defaults per dataset, and the one pairing of a rule with its final target and loss."""

import pytest

from mdn_tf.training import config as config_lib
from mdn_tf.training.run import Experiment


@pytest.mark.parametrize("dataset,edges", [("mpii", "within_part"), ("coco", "cross_part")])
def test_real_data_votes_within_part_on_mpii_and_cross_part_on_coco(tmp_path, dataset, edges):
    # The paper: within-part voting is best for single-person data, cross-part for COCO.
    args = config_lib.parse_args(dataset, ["--data-dir", str(tmp_path)])
    assert args.edges == edges and args.final_target == "voted"


@pytest.mark.parametrize("variant,combine,target,displacements", [
    ("mdn", "additive", "voted", "scatter"),
    ("posthoc", "noisy_or", "voted", "scatter"),
    ("stn", "noisy_or", "voted", "gather"),
])
def test_the_experiment_pairs_the_rule_with_its_target_and_loss(variant, combine, target,
                                                                 displacements):
    args = config_lib.parse_args("mpii", ["--variant", variant, "--combine", combine,
                                          "--kernel", "gaussian", "--kernel-size", "7",
                                          "--kernel-sigma", "0.9", "--max-valid-records", "4"])
    experiment = Experiment(args)
    supervision = experiment.final_supervision
    assert experiment.codec.final_supervision is supervision
    assert experiment.codec.final_target == target
    assert experiment.codec.displacements == displacements
    assert (supervision.combine, supervision.kernel_size, supervision.sigma) == (combine, 7, 0.9)
    assert supervision.warp == (variant == "stn")
    model = experiment.build_model()
    assert model.get_layer("final").get_config()["combine"] == combine
    losses, _ = experiment.losses(model.output_names)
    assert losses["offsets_x"] is not None
    if variant != "posthoc":
        assert losses["final"].combine == combine


def test_the_papers_final_targets_stay_available_by_name():
    args = config_lib.parse_args("mpii", ["--combine", "additive", "--final-target", "paper",
                                          "--max-valid-records", "4"])
    assert Experiment(args).codec.final_target == "gaussian"
