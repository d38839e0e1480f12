"""The typed training configuration: profiles, validation, the command line, Python use.

Also the one pairing of a rule with its final target and loss (the Experiment).
"""

import dataclasses
import json

import pytest

from mdn_tf.training import (
    ConfigError,
    DataConfig,
    ModelConfig,
    OptimizationConfig,
    RunConfig,
    TrainConfig,
    command_line,
    train,
)
from mdn_tf.training.config import PROFILES, profile_defaults
from mdn_tf.training.experiment import Experiment


@pytest.mark.parametrize("dataset,edges", [("mpii", "within_part"), ("coco", "cross_part")])
def test_real_data_votes_within_part_on_mpii_and_cross_part_on_coco(tmp_path, dataset, edges):
    # The paper: within-part voting is best for single-person data, cross-part for COCO.
    config = command_line.parse_args(dataset, ["--data-dir", str(tmp_path)])
    assert config.model.edges == edges and config.loss.final_target == "voted"


def test_the_profile_fills_only_what_is_not_given():
    sample = TrainConfig()
    assert sample.sample and sample.model.backbone == "small"
    assert sample.optimization.clipnorm == PROFILES["sample"]["clipnorm"] == 1.0
    paper = TrainConfig(data=DataConfig(data_dir="/data/mpii"),
                        optimization=OptimizationConfig(epochs=3))
    assert paper.optimization.epochs == 3  # given wins over the profile
    assert paper.optimization.optimizer == "rmsprop" and paper.model.weights == "imagenet"
    assert paper.model.input_size == profile_defaults("mpii", "/data/mpii")["input_size"]
    assert paper.run.output_dir == "runs/mpii_real_resnet50_mdn_noisy_or"


def test_a_config_is_frozen_and_round_trips_through_its_options():
    config = TrainConfig.from_options(dataset="coco", epochs=5, combine="max", seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.combine = "additive"
    options = config.to_options()
    assert options["epochs"] == 5 and options["dataset"] == "coco"
    assert TrainConfig.from_options(**json.loads(json.dumps(options))) == config
    assert config.replace(seed=4).run.seed == 4 and config.run.seed == 3


@pytest.mark.parametrize("options,python,flag", [
    (dict(epochs=0), "epochs must be a positive integer. Received: epochs=0",
     "--epochs must be a positive integer. Received: 0"),
    (dict(combine="sum"), "combine must be one of ('additive', 'noisy_or', 'max'). "
                          "Received: combine='sum'", None),
    (dict(kernel_size=4), "kernel_size must be a positive odd integer", None),
    (dict(lr_decay=1.5), "lr_decay must be in (0, 1]", "--lr-decay must be in (0, 1]. "
                                                       "Received: 1.5"),
    (dict(dataset="coco", max_valid_records=3), "max_valid_records applies to --dataset mpii",
     "--max-valid-records applies to --dataset mpii only. Received: --dataset coco"),
    (dict(restart=True, strategy="multi_worker"), "restart cannot be used with --strategy",
     None),
    (dict(init_weights="/no/such.keras"), "init_weights must be a .keras model file",
     "--init-weights must be a .keras model file. Received: --init-weights /no/such.keras "
     "(no such file)"),
    (dict(epochz=1), "option must be one of the training options", None),
])
def test_each_bad_value_is_named_in_python_and_on_the_command_line(options, python, flag):
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_options(**options)
    assert python in str(error.value)
    if flag:
        assert error.value.flag_message == flag


def test_advanced_options_stay_out_of_the_help_but_are_accepted(capsys):
    help_text = command_line.build_parser("mpii").format_help()
    assert "--epochs" in help_text and "--help-advanced" in help_text
    for option in ("--final-floor", "--final-sigma", "--clipnorm", "--final-target"):
        assert option not in help_text
    with pytest.raises(SystemExit):
        command_line.build_parser("mpii").parse_args(["--help-advanced"])
    advanced = capsys.readouterr().out
    assert all(option in advanced for option in ("--final-floor", "--clipnorm"))
    config = command_line.parse_args("mpii", ["--clipnorm", "0", "--final-target", "paper"])
    assert config.optimization.clipnorm == 0 and config.loss.final_target == "paper"


@pytest.mark.parametrize("variant,combine,target,displacements", [
    ("mdn", "additive", "voted", "scatter"),
    ("posthoc", "noisy_or", "voted", "scatter"),
    ("stn", "noisy_or", "voted", "gather"),
])
def test_the_experiment_pairs_the_rule_with_its_target_and_loss(variant, combine, target,
                                                                 displacements):
    config = command_line.parse_args("mpii", ["--variant", variant, "--combine", combine,
                                              "--kernel", "gaussian", "--kernel-size", "7",
                                              "--kernel-sigma", "0.9",
                                              "--max-valid-records", "4"])
    experiment = Experiment(config)
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
    config = command_line.parse_args("mpii", ["--combine", "additive", "--final-target",
                                              "paper", "--max-valid-records", "4"])
    assert Experiment(config).codec.final_target == "gaussian"


def test_python_users_train_without_a_command_line(tmp_path):
    config = TrainConfig(
        model=ModelConfig(input_size=(64, 64), small_filters=8),
        data=DataConfig(max_train_records=16, max_valid_records=4),
        optimization=OptimizationConfig(epochs=1, batch_size=8),
        run=RunConfig(output_dir=str(tmp_path), eval_every=0, untrained_eval=False,
                      tensorboard_images=0, verbose=0),
    )
    result = train(config)
    assert 0.0 <= result["Mean"] <= 100.0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert TrainConfig.from_options(**saved["options"]) == config
