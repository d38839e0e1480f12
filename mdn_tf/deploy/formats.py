"""Writing a pose model in each deployment format, with the runtime's own ops.

Every format holds `PoseGraph.whole_image` (one uint8 photo of any size in;
keypoints, scores and the final maps out), traced with the stock TensorFlow
voting (never the compiled op), frozen (weights as constants), and written:

- `saved_model`: a SavedModel folder for TF Serving (`mdn_tf.export`: a
  `serving_default` signature for photos with person boxes, `whole_image`
  for whole photos);
- `litert`: a `.tflite` flat buffer (TensorFlow's own converter; LiteRT has
  builtin UNSORTED_SEGMENT_SUM/MAX), in float32, or with `quantization`
  "float16" (weights stored as float16) or "dynamic_int8" (weights int8,
  activations quantized on the fly);
- `onnx`: a `.onnx` model (tf2onnx, opset 18); the noisy-OR vote is traced
  under `portable_math()` (ONNX has no Log1p / Expm1);
- `openvino`: OpenVINO IR (`.xml` + `.bin`), converted from that ONNX model;
- `torch`: a PyTorch ExportedProgram (`.pt2`), traced from the same
  `keras.ops` code on Keras's PyTorch backend (`torch_program.py`).

Beside each artefact `sidecar.write_sidecar` writes `<artefact>.json`.
"""

import importlib
import os
import tempfile

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from mdn_tf.deploy.runtimes import FORMAT_OF_EXTENSION
from mdn_tf.ops.portable_math import portable_math

EXTENSIONS = {fmt: extension for extension, fmt in FORMAT_OF_EXTENSION.items()}

FORMATS = ("saved_model", "litert", "onnx", "openvino", "torch")
QUANTIZATIONS = (None, "float16", "dynamic_int8")
# Format -> (the Python package its converter or runtime needs, pip name, extra).
PACKAGES = {
    "litert": ("ai_edge_litert", "ai-edge-litert", "deploy"),
    "onnx": ("tf2onnx", "tf2onnx onnxruntime", "deploy"),
    "openvino": ("openvino", "openvino tf2onnx", "deploy"),
    # Not in the deploy extra: a bare `torch` requirement pulls a CUDA build of
    # several GB where a CPU build would do (README).
    "torch": ("torch", "torch", "torch"),
}
ONNX_OPSET = 18


class MissingPackageError(ImportError):
    """A format's converter or runtime is not installed; the message is one line."""


def require_package(fmt, module=None):
    """Imports what `fmt` needs, or raises `MissingPackageError` naming the pip package."""
    name, pip_name, extra = PACKAGES[fmt]
    try:
        return importlib.import_module(module or name)
    except ImportError:
        raise MissingPackageError(
            f"the {fmt} format needs the {pip_name.split()[0]} package: "
            f'pip install {pip_name} (or pip install -e ".[{extra}]")'
        ) from None


def artifact_path(output, fmt):
    """The artefact's file (folder for SavedModel): `output` with the format's extension."""
    if fmt == "saved_model":
        return os.fspath(output)
    root, extension = os.path.splitext(os.fspath(output))
    return root + EXTENSIONS[fmt] if extension != EXTENSIONS[fmt] else os.fspath(output)


def frozen_whole_image(graph):
    """`graph.whole_image` with the weights folded in as constants (a ConcreteFunction)."""
    # Frozen: LiteRT would otherwise keep the Keras weights as resource
    # variables it cannot read (READ_VARIABLE fails), OpenVINO cannot find them.
    return convert_variables_to_constants_v2(graph.whole_image.get_concrete_function())


def export_litert(graph, path, quantization=None):
    """Writes `graph` as a `.tflite` flat buffer; returns `path`."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}. "
                         f"Received: quantization={quantization!r}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen_whole_image(graph)])
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    with open(path, "wb") as f:
        f.write(converter.convert())
    return path


def scatter_nd_to_scatter_elements(model):
    """Rewrites each 1-D `ScatterND` with a reduction as `ScatterElements` (in place).

    ONNX Runtime's CPU `ScatterND` applies reductions from several threads
    without synchronisation, so duplicate indices (every vote landing on a
    pixel another vote reached) lose updates at random: measured on a
    noisy-OR Gaussian model, maps varied by up to 0.028 between identical
    runs with 2 threads, not at all with 1 (onnxruntime issues 18048, 23396).
    `ScatterElements` with the same reduction is applied in order. The
    segment reductions of `portable_math` scatter into a 1-D tensor with
    `[N, 1]` indices, which `ScatterElements` takes as `[N]` along axis 0.
    """
    import onnx

    nodes = model.graph.node
    for position in range(len(nodes) - 1, -1, -1):
        node = nodes[position]
        reduction = [a.s.decode() for a in node.attribute if a.name == "reduction"]
        if node.op_type != "ScatterND" or reduction in ([], ["none"]):
            continue
        flat = node.name + "/flat_indices"
        axes = node.name + "/flat_axes"
        squeeze_axes = onnx.helper.make_node(
            "Constant", [], [axes], name=axes + "_const",
            value=onnx.helper.make_tensor(axes, onnx.TensorProto.INT64, [1], [1]))
        squeeze = onnx.helper.make_node("Squeeze", [node.input[1], axes], [flat],
                                        name=flat + "_squeeze")
        scatter = onnx.helper.make_node(
            "ScatterElements", [node.input[0], flat, node.input[2]], list(node.output),
            name=node.name, axis=0, reduction=reduction[0])
        del nodes[position]
        for offset, new in enumerate((squeeze_axes, squeeze, scatter)):
            nodes.insert(position + offset, new)
    return model


def export_onnx(graph, path):
    """Writes `graph` as an ONNX model (opset 18); returns `path`."""
    tf2onnx = require_package("onnx", "tf2onnx")
    import onnx

    with portable_math():
        # Traced here, inside the context: the noisy-OR vote then uses Log/Exp forms.
        function = tf.function(graph._whole_image,
                               input_signature=graph.whole_image.input_signature)
        model, _ = tf2onnx.convert.from_function(function,
                                                 input_signature=function.input_signature,
                                                 opset=ONNX_OPSET)
    model = scatter_nd_to_scatter_elements(model)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def export_openvino(graph, path):
    """Writes `graph` as OpenVINO IR (`path` .xml and its .bin); returns `path`."""
    openvino = require_package("openvino")
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = export_onnx(graph, os.path.join(folder, "model.onnx"))
        # compress_to_fp16=False: OpenVINO would otherwise store the weights as
        # float16 (measured: keypoints up to 20 px off on real photos).
        openvino.save_model(openvino.convert_model(onnx_path), path, compress_to_fp16=False)
    return path
