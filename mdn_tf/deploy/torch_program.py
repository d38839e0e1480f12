"""The PyTorch format: the whole-image path as a `torch.export` ExportedProgram (`.pt2`).

The artefact is what Keras 3's `model.export(path, format="torch")` writes
(ATen operations only, loaded with `torch.export.load(path).module()`, no
Keras or mdn_tf needed), holding the whole-image path of `whole_image.py`
rather than the bare network: one uint8 photo `[1, H, W, 3]` of any size
(`H` and `W` are `torch.export.Dim`s) in; `keypoints`, `maps` and `scores`
out, in `sidecar.OUTPUTS` order, the flip test inside. Voting is the
`keras.ops` path (`voting_keras.py`): scatter-adds and scatter-maxima; its
nodes carry the module path "voting" for profilers.

Tracing needs Keras on its PyTorch backend, which is chosen when Keras is
first imported, so `export_torch_program` runs in a child process with
`KERAS_BACKEND=torch` whenever this process runs another backend (the
`mdn-tf` command runs TensorFlow):

    python -m mdn_tf.deploy.torch_program MODEL.keras OUT.pt2 '{"flip_permutation": ...}'
"""

import json
import os
import subprocess
import sys

import keras

from mdn_tf.deploy.sidecar import OUTPUTS
from mdn_tf.inference.geometry import BOX_PADDING

class TracingError(RuntimeError):
    """`torch.export` could not trace the model; the message is one line."""


MAX_PHOTO_SIDE = 16384  # the largest photo height or width the program accepts
_TRACE_PHOTO = (90, 70)  # any size above 1 (torch.export fixes dimensions of size 1)


def trace_and_save(model, path, flip_permutation=None, quarter_offset=True,
                   padding=BOX_PADDING):
    """Traces `model`'s whole-image path with `torch.export` and saves it at `path`.

    Must run on Keras's PyTorch backend. Returns `path`.
    """
    import numpy as np
    import torch

    from mdn_tf.deploy.whole_image import whole_image_pose

    input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])

    class WholeImage(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # Not a registered submodule: the traced graph reads Keras's weights as
            # constants, and a registered model would store each weight a second
            # time, as an unused parameter (measured: 2x the file size).
            self.__dict__["model"] = model
            # Registered, so that the program's nodes name the layer that made them
            # (node.meta["nn_module_stack"] ends in "voting"); it has no weights.
            self.voting = model.get_layer("final")

        def forward(self, image):
            def predict_maps(images):
                return keras.ops.cast(self.model(images, training=False)["final"], "float32")

            out = whole_image_pose(predict_maps, image, input_size, flip_permutation,
                                   quarter_offset, padding)
            return tuple(out[name] for name in OUTPUTS)

    photo = np.random.default_rng(0).integers(0, 256, (1, *_TRACE_PHOTO, 3), dtype=np.uint8)
    side = {axis: torch.export.Dim(name, min=2, max=MAX_PHOTO_SIDE)
            for axis, name in ((1, "height"), (2, "width"))}
    with torch.no_grad():
        program = torch.export.export(WholeImage().eval(), (torch.from_numpy(photo),),
                                      dynamic_shapes={"image": side}, strict=False)
    torch.export.save(program, os.fspath(path))
    return path


def export_torch_program(model_file, path, flip_permutation=None, quarter_offset=True,
                         padding=BOX_PADDING):
    """Writes the `.pt2` program of the `.keras` file `model_file` at `path`; returns `path`.

    Traces in this process on Keras's PyTorch backend, else in a child process
    that has it.

    Raises:
        TracingError: tracing failed in the child process (its last line).
    """
    options = {"flip_permutation": None if flip_permutation is None else list(flip_permutation),
               "quarter_offset": bool(quarter_offset), "padding": float(padding)}
    if keras.backend.backend() == "torch":
        import mdn_tf.models  # noqa: F401  (registers the layers of model.keras)

        return trace_and_save(keras.models.load_model(model_file), path, **options)
    env = dict(os.environ, KERAS_BACKEND="torch")
    run = subprocess.run([sys.executable, "-m", __name__, os.fspath(model_file), os.fspath(path),
                          json.dumps(options)], env=env, capture_output=True, text=True)
    if run.returncode != 0 or not os.path.exists(path):
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise TracingError(f"tracing the torch program failed: {last}")
    return path


if __name__ == "__main__":
    export_torch_program(sys.argv[1], sys.argv[2], **json.loads(sys.argv[3]))
