"""Running an exported artefact in its own runtime, picked by the artefact.

    runner = load("model.tflite")          # or .onnx, .xml (OpenVINO), .pt2, a SavedModel folder
    out = runner(image)                    # [H, W, 3] uint8 photo
    out["keypoints"], out["scores"], out["maps"]   # [J, 2], [J], [h, w, J]

Running an artefact needs NumPy and its runtime's package (ai-edge-litert,
onnxruntime, openvino, torch; TensorFlow for a SavedModel) and no TensorFlow code.
Importing this module imports the `mdn_tf` package, and with it Keras (the
layer's registration): where TensorFlow is not installed, set KERAS_BACKEND
to an installed backend, or run the artefact with its runtime and the sidecar
alone, as `tests/test_deploy.py` does in a process without mdn_tf. The CPU runtimes
run with `threads` threads (default 2) and in float32 (OpenVINO is told so:
on CPUs with bfloat16 it would otherwise lower the precision itself).
"""

import importlib
import os

import numpy as np

from mdn_tf.deploy.sidecar import OUTPUTS

# Artefact extension -> format (a SavedModel is a folder).
FORMAT_OF_EXTENSION = {".tflite": "litert", ".onnx": "onnx", ".xml": "openvino",
                       ".pt2": "torch"}
# Formats that hold only the whole-image path (one person filling each photo); a
# SavedModel also takes person boxes.
WHOLE_PHOTO_FORMATS = ("litert", "onnx", "openvino", "torch")
_PACKAGES = {"litert": "ai-edge-litert", "onnx": "onnxruntime", "openvino": "openvino",
             "torch": "torch", "saved_model": "tensorflow"}


def artifact_format(path):
    """"litert", "onnx", "openvino", "torch" or "saved_model" from the artefact's name, else None."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return "saved_model" if os.path.exists(os.path.join(path, "saved_model.pb")) else None
    return FORMAT_OF_EXTENSION.get(os.path.splitext(path)[1].lower())


def _import(fmt, module):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"running a {fmt} artefact needs the {_PACKAGES[fmt]} package: "
                          f"pip install {_PACKAGES[fmt]}") from None


class _Runner:
    """Calls the artefact on one photo; subclasses set `self._run(image[1,H,W,3]) -> dict`."""

    format = None

    def __call__(self, image):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError("image must be one [H, W, 3] uint8 RGB photo. "
                             f"Received: shape {image.shape}, dtype {image.dtype}")
        outputs = self._run(np.ascontiguousarray(image[None]))
        return {name: np.asarray(outputs[name], np.float32)[0] for name in OUTPUTS}


class LiteRTRunner(_Runner):
    format = "litert"

    def __init__(self, path, threads=2):
        interpreter = _import(self.format, "ai_edge_litert.interpreter")
        self._interpreter = interpreter.Interpreter(model_path=os.fspath(path),
                                                    num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        # A frozen function's outputs keep the flattened order of its dict.
        self._outputs = [d["index"] for d in self._interpreter.get_output_details()]
        self._shape = None

    def _run(self, image):
        if self._shape != image.shape:  # photos of any size: resize the input tensor
            self._interpreter.resize_tensor_input(self._input, image.shape, strict=False)
            self._interpreter.allocate_tensors()
            self._shape = image.shape
        self._interpreter.set_tensor(self._input, image)
        self._interpreter.invoke()
        return {name: self._interpreter.get_tensor(index)
                for name, index in zip(OUTPUTS, self._outputs)}


class OnnxRunner(_Runner):
    format = "onnx"

    def __init__(self, path, threads=2):
        ort = _import(self.format, "onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(os.fspath(path), options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._names = [output.name for output in self._session.get_outputs()]

    def _run(self, image):
        values = self._session.run(None, {self._input: image})
        return {name: values[self._names.index(name)] for name in OUTPUTS}


class OpenVINORunner(_Runner):
    format = "openvino"

    def __init__(self, path, threads=2):
        ov = _import(self.format, "openvino")
        self._compiled = ov.Core().compile_model(
            os.fspath(path), "CPU",
            {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads},
        )
        self._names = [output.get_any_name() for output in self._compiled.outputs]

    def _run(self, image):
        result = self._compiled(image)
        return {name: result[self._compiled.outputs[self._names.index(name)]]
                for name in OUTPUTS}


class TorchRunner(_Runner):
    """A `.pt2` ExportedProgram (`torch.export`), run eagerly on the CPU.

    `threads` sets PyTorch's intra-op threads, which are per process.
    """

    format = "torch"

    def __init__(self, path, threads=2):
        self._torch = _import(self.format, "torch")
        self._torch.set_num_threads(threads)
        self._module = self._torch.export.load(os.fspath(path)).module()

    def _run(self, image):
        with self._torch.no_grad():
            values = self._module(self._torch.tensor(image))  # a copy: photos may be read-only
        return {name: value.numpy() for name, value in zip(OUTPUTS, values)}


class SavedModelRunner(_Runner):
    format = "saved_model"

    def __init__(self, path, threads=2):
        tf = _import(self.format, "tensorflow")
        self._tf = tf
        self._function = tf.saved_model.load(os.fspath(path)).signatures["whole_image"]

    def _run(self, image):
        out = self._function(images=self._tf.constant(image))
        return {name: out[name].numpy() for name in OUTPUTS}


RUNNERS = {runner.format: runner for runner in
           (LiteRTRunner, OnnxRunner, OpenVINORunner, TorchRunner, SavedModelRunner)}


def load(path, threads=2):
    """The runner of the artefact at `path`, chosen by its extension (folder: SavedModel).

    Raises:
        ValueError: `path` is not an artefact of a known format.
        ImportError: the runtime's package is missing (one line naming it).
    """
    fmt = artifact_format(path)
    if fmt is None:
        raise ValueError("model must be a .tflite, .onnx, OpenVINO .xml or PyTorch .pt2 file "
                         f"or a SavedModel folder. Received: {os.fspath(path)}")
    return RUNNERS[fmt](path, threads=threads)
