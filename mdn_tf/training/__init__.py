"""Training of mdn_tf pose models, from Python or the command line.

    from mdn_tf.training import TrainConfig, train
    train(TrainConfig.from_options(dataset="mpii", epochs=5))

- `config.py`: `TrainConfig` (typed, frozen; sections model, data, loss,
  optimization, run) and the defaults of each profile (sample, paper);
- `command_line.py`: the options of `training/train_*.py` and `mdn-tf train`,
  parsed into a `TrainConfig`;
- `experiment.py`: records, codec, model, losses and data of one run;
- `run.py`: `train(config)` with `model.fit`, and the final table;
- `custom_loop.py`: the `--strategy multi_worker` loop; `callbacks.py`:
  checkpoints, best weights, validation metric, TensorBoard images;
  `run_state.py`: resume state and data seeds; `init_weights.py`: starting
  from another model's weights.

The top-level folder `training/` holds only the scripts users run
(`train_mpii.py`, `train_coco.py`, `ablation.py`, ...): thin entry points
into this package and `mdn_tf.research`.
"""

from mdn_tf.training.config import (
    ConfigError,
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimizationConfig,
    RunConfig,
    TrainConfig,
)
from mdn_tf.training.run import train

__all__ = ["ConfigError", "DataConfig", "LossConfig", "ModelConfig", "OptimizationConfig",
           "RunConfig", "TrainConfig", "train"]
