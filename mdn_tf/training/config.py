"""The typed configuration of one training run, with its defaults per profile.

    from mdn_tf.training import TrainConfig, train
    train(TrainConfig())                                        # the main job: MPII sample
    train(TrainConfig.from_options(dataset="coco", epochs=5))   # flat option names
    train(TrainConfig(data=DataConfig(data_dir="/data/mpii")))  # real MPII, paper settings

A `TrainConfig` is frozen and holds five sections: `model`, `data`, `loss`,
`optimization` and `run`. A field left at None takes the default of the
run's profile, chosen by the data: the built-in sample (`data_dir` None; a
CPU-sized run that finishes in minutes on 2 cores) or real data (the
paper's settings: ResNet-50 from ImageNet, RMSProp 0.0025 decayed by 0.99
per epoch). Those defaults are `PROFILES` and `DATASET_PROFILES` below and
nowhere else. Every value is checked once, here, and a bad one raises a
`ConfigError` that names the option (`--option` on the command line).

The command line (`command_line.py`), a JSON config file
(`TrainConfig.from_options(**json.load(f))`) and Python build the same
object; `to_options()` gives the flat dict back.
"""

import dataclasses
import os

from mdn_tf.data.datasets import DATASETS
from mdn_tf.data.bad_images import ON_BAD_IMAGE
from mdn_tf.final_supervision import FORMS
from mdn_tf.models import BACKBONES, VARIANTS
from mdn_tf.ops.voting_config import COMBINES, KERNELS

STRATEGIES = ("none", "mirrored", "multi_worker")
OPTIMIZERS = ("rmsprop", "adam")
EDGES = ("within_part", "cross_part")

# The defaults that depend on the profile. Sample: a small network on 128-pixel
# crops. Its gradients are clipped to a global norm of 1: the noisy-OR
# cross-entropy of an untrained network sends spikes of 1/m into the
# displacement heads, which inflate Adam's second moments and freeze those
# heads for hundreds of steps (docs/models.md, "The noisy-OR question").
# Its voting (additive, within-part) scored highest in `training/ablation.py`.
# Paper: Neverova & Kokkinos, BMVC 2018, Sec. 4. `weights` "none" and
# `clipnorm` 0 mean no pretrained weights and no clipping.
PROFILES = {
    "sample": dict(combine="additive", edges="within_part", backbone="small", weights="none",
                   epochs=20, batch_size=16, optimizer="adam", learning_rate=2e-3,
                   lr_decay=0.97, small_filters=32, clipnorm=1.0, eval_every=5),
    "paper": dict(combine="noisy_or", edges="within_part", backbone="resnet50",
                  weights="imagenet", epochs=100, batch_size=16, optimizer="rmsprop",
                  learning_rate=0.0025, lr_decay=0.99, small_filters=32, clipnorm=0.0,
                  eval_every=1),
}
# Per dataset and profile. The paper finds cross-part voting best for
# multi-person COCO (Sec. 4, Table 5). The COCO sample has ~150 training
# people (9 steps an epoch, the MPII sample 50), and the ablation measured
# MPII only, so it keeps the paper's voting.
DATASET_PROFILES = {
    ("mpii", "sample"): dict(input_size=(128, 128)),
    ("coco", "sample"): dict(input_size=(128, 96), edges="cross_part", epochs=40,
                             combine="noisy_or"),
    ("mpii", "paper"): dict(input_size=(256, 256)),
    ("coco", "paper"): dict(input_size=(256, 192), edges="cross_part"),
}
# Options that only one dataset has.
DATASET_OPTIONS = {"max_valid_records": "mpii", "detections": "coco"}


class ConfigError(ValueError):
    """A bad option value, named as in Python (`str`) and on the command line (`flag_message`)."""

    def __init__(self, option, expected, value, received_flag=None):
        self.option, self.value = option, value
        super().__init__(f"{option} {expected}. Received: {option}={value!r}")
        flag = "--" + option.replace("_", "-")
        self.flag_message = (f"{flag} {expected}. Received: "
                             f"{received_flag if received_flag is not None else value}")


def profile_name(data_dir):
    """"sample" without a data folder, else "paper"."""
    return "sample" if data_dir is None else "paper"


def profile_defaults(dataset, data_dir):
    """The defaults of the fields left at None, for this dataset and data folder."""
    profile = profile_name(data_dir)
    return {**PROFILES[profile], **DATASET_PROFILES[(dataset, profile)]}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network: `mdn_tf.models.build_pose_model`'s arguments."""

    backbone: str = None
    variant: str = "mdn"
    combine: str = None
    kernel: str = "bilinear"
    kernel_size: int = 5  # Gaussian window kf (odd)
    kernel_sigma: float = None  # Gaussian std in map pixels; None: kf / 6
    edges: str = None
    input_size: tuple = None  # (H, W)
    weights: str = None  # ResNet weights: "imagenet", a file, or "none"
    num_stacks: int = 8  # Hourglass stacks
    hourglass_filters: int = 256
    small_filters: int = None
    init_weights: str = None  # a .keras model whose weights start this one (by layer name)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data, and how much of it."""

    dataset: str = "mpii"
    data_dir: str = None  # None: the built-in sample
    max_train_records: int = None
    max_valid_records: int = None  # MPII only
    detections: str = None  # COCO only: detector boxes for the final evaluation
    on_bad_image: str = "error"

    @property
    def sample(self):
        return self.data_dir is None


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Loss weights and the final-map supervision (`mdn_tf.final_supervision`)."""

    heatmap_weight: float = 1.0
    offset_weight: float = 1.0
    final_weight: float = 1.0
    final_target: str = "voted"  # "voted" or "paper"
    final_floor: float = None  # gradient bound 1/floor of the final cross-entropy
    final_sigma: float = None  # std of the additive rule's paper-form Gaussian target


@dataclasses.dataclass(frozen=True)
class OptimizationConfig:
    """Optimizer, schedule and length."""

    epochs: int = None
    batch_size: int = None  # global
    steps_per_epoch: int = None  # None: one pass over the training records
    optimizer: str = None
    learning_rate: float = None
    lr_decay: float = None  # learning-rate factor per epoch
    clipnorm: float = None  # global gradient norm; 0: no clipping


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Where and how the run executes, and what it writes."""

    output_dir: str = None  # default runs/<dataset>_<sample|real>_<backbone>_<variant>_<combine>
    seed: int = 0
    deterministic: bool = False
    eval_every: int = None  # epochs between validation scores; 0: only the final table
    untrained_eval: bool = True
    strategy: str = "none"
    mixed_precision: bool = False
    jit_compile: bool = False
    keep_checkpoints: int = 3
    tensorboard_images: int = 4
    restart: bool = False
    verbose: int = 1


SECTIONS = {"model": ModelConfig, "data": DataConfig, "loss": LossConfig,
            "optimization": OptimizationConfig, "run": RunConfig}
# Flat option name -> its section (option names are unique across sections).
OPTION_SECTIONS = {field.name: section for section, cls in SECTIONS.items()
                   for field in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; fields left at None take the profile's default."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    loss: LossConfig = LossConfig()
    optimization: OptimizationConfig = OptimizationConfig()
    run: RunConfig = RunConfig()

    def __post_init__(self):
        if self.data.dataset not in DATASETS:
            raise ConfigError("dataset", f"must be one of {DATASETS}", self.data.dataset)
        defaults = profile_defaults(self.data.dataset, self.data.data_dir)
        for section in SECTIONS:
            current = getattr(self, section)
            filled = {name: value for name, value in defaults.items()
                      if OPTION_SECTIONS[name] == section and getattr(current, name) is None}
            if filled:
                object.__setattr__(self, section, dataclasses.replace(current, **filled))
        model = self.model
        changes = {"input_size": tuple(int(v) for v in model.input_size)}
        if model.weights in (None, "None", "") or not model.backbone.startswith("resnet"):
            changes["weights"] = "none"
        object.__setattr__(self, "model", dataclasses.replace(model, **changes))
        if self.run.output_dir is None:
            source = "sample" if self.data.sample else "real"
            name = (f"{self.data.dataset}_{source}_{self.model.backbone}_{self.model.variant}_"
                    f"{self.model.combine}")
            object.__setattr__(self, "run", dataclasses.replace(
                self.run, output_dir=os.path.join("runs", name)))
        _validate(self)

    @property
    def sample(self):
        """True on the built-in sample data."""
        return self.data.sample

    @classmethod
    def from_options(cls, **options):
        """A config from flat option names (`epochs=5`, `dataset="coco"`, ...).

        Raises:
            ConfigError: an unknown option name, or a bad value.
        """
        sections = {section: {} for section in SECTIONS}
        for name, value in options.items():
            if name not in OPTION_SECTIONS:
                raise ConfigError("option", f"must be one of the training options "
                                  f"({', '.join(sorted(OPTION_SECTIONS))})", name,
                                  received_flag=name)
            sections[OPTION_SECTIONS[name]][name] = value
        return cls(**{section: SECTIONS[section](**values)
                      for section, values in sections.items()})

    def to_options(self):
        """The flat `{option: value}` dict (JSON-ready; `from_options` reads it back)."""
        options = {}
        for section in SECTIONS:
            options.update(dataclasses.asdict(getattr(self, section)))
        options["input_size"] = list(options["input_size"])
        return options

    def replace(self, **options):
        """A copy with some flat options changed (profile defaults already filled stay)."""
        return TrainConfig.from_options(**{**self.to_options(), **options})


def _positive_int(option, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(option, "must be a positive integer", value)


def _choice(option, value, choices):
    if value not in choices:
        raise ConfigError(option, f"must be one of {tuple(choices)}", value)


def _positive_number(option, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(option, "must be a positive number", value)


def _validate(config):
    """Checks every option once; raises `ConfigError` for the first bad one."""
    model, data, loss = config.model, config.data, config.loss
    optimization, run = config.optimization, config.run
    _choice("backbone", model.backbone, BACKBONES)
    _choice("variant", model.variant, VARIANTS)
    _choice("combine", model.combine, COMBINES)
    _choice("kernel", model.kernel, KERNELS)
    if isinstance(model.kernel_size, bool) or not isinstance(model.kernel_size, int) or \
            model.kernel_size < 1 or model.kernel_size % 2 == 0:
        raise ConfigError("kernel_size", "must be a positive odd integer", model.kernel_size)
    _positive_number("kernel_sigma", model.kernel_sigma, allow_none=True)
    _choice("edges", model.edges, EDGES)
    if len(model.input_size) != 2 or min(model.input_size) < 4:
        raise ConfigError("input_size", "must be two sizes (H, W) of at least 4 pixels",
                          model.input_size)
    for option in ("num_stacks", "hourglass_filters", "small_filters"):
        _positive_int(option, getattr(model, option))
    if model.init_weights and not os.path.isfile(model.init_weights):
        raise ConfigError("init_weights", "must be a .keras model file", model.init_weights,
                          received_flag=f"--init-weights {model.init_weights} (no such file)")
    for option, owner in DATASET_OPTIONS.items():
        if owner != data.dataset and getattr(data, option) is not None:
            raise ConfigError(option, f"applies to --dataset {owner} only",
                              getattr(data, option), received_flag=f"--dataset {data.dataset}")
    _positive_int("max_train_records", data.max_train_records, allow_none=True)
    _positive_int("max_valid_records", data.max_valid_records, allow_none=True)
    _choice("on_bad_image", data.on_bad_image, ON_BAD_IMAGE)
    _choice("final_target", loss.final_target, FORMS)
    for option in ("heatmap_weight", "offset_weight", "final_weight"):
        value = getattr(loss, option)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(option, "must be a non-negative number", value)
    _positive_number("final_floor", loss.final_floor, allow_none=True)
    _positive_number("final_sigma", loss.final_sigma, allow_none=True)
    _positive_int("epochs", optimization.epochs)
    _positive_int("batch_size", optimization.batch_size)
    _positive_int("steps_per_epoch", optimization.steps_per_epoch, allow_none=True)
    _choice("optimizer", optimization.optimizer, OPTIMIZERS)
    _positive_number("learning_rate", optimization.learning_rate)
    if isinstance(optimization.lr_decay, bool) or not 0 < optimization.lr_decay <= 1:
        raise ConfigError("lr_decay", "must be in (0, 1]", optimization.lr_decay)
    if not isinstance(optimization.clipnorm, (int, float)) or optimization.clipnorm < 0:
        raise ConfigError("clipnorm", "must be a non-negative number (0: no clipping)",
                          optimization.clipnorm)
    _positive_int("keep_checkpoints", run.keep_checkpoints)
    if isinstance(run.eval_every, bool) or not isinstance(run.eval_every, int) or \
            run.eval_every < 0:
        raise ConfigError("eval_every", "must be a non-negative integer", run.eval_every)
    _choice("strategy", run.strategy, STRATEGIES)
    if run.restart and run.strategy == "multi_worker":
        # Workers would race to delete and read the shared folder.
        raise ConfigError("restart", "cannot be used with --strategy multi_worker; delete the "
                          "output folder before starting the workers", run.restart,
                          received_flag=f"--output-dir {run.output_dir}")
