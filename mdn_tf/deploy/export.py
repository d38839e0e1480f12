"""`export_model`: a `.keras` pose model to one deployment format, with its sidecar."""

import os
import tempfile

import keras

import mdn_tf.models  # noqa: F401  (registers the layers of model.keras)
from mdn_tf.deploy import formats
from mdn_tf.deploy.graph import PoseGraph
from mdn_tf.deploy.sidecar import describe, write_sidecar
from mdn_tf.deploy.torch_program import export_torch_program
from mdn_tf.export import export_saved_model
from mdn_tf.inference.geometry import BOX_PADDING
from mdn_tf.skeleton import skeleton_for_model


def export_model(model, output, fmt="saved_model", skeleton=None, flip_test=True,
                 quarter_offset=True, quantization=None, padding=BOX_PADDING):
    """Writes `model` in format `fmt` at `output` and its sidecar JSON beside it.

    Args:
        model: a pose model or the path of a `.keras` file.
        output: the artefact's path; the format's extension is added when
            missing (`.tflite`, `.onnx`, `.xml`, `.pt2`; a folder for SavedModel).
        fmt: one of `formats.FORMATS`. Defaults to "saved_model".
        skeleton: "mpii" or "coco" (joint names, flip test). Defaults to
            None (from J: 16 MPII, 17 COCO).
        flip_test: average with the mirrored crop inside the graph.
            Defaults to True.
        quarter_offset: quarter-pixel decoding refinement. Defaults to True.
        quantization: LiteRT only: None (float32), "float16" or
            "dynamic_int8". Defaults to None.
        padding: person-box enlargement. Defaults to 1.25.

    Returns:
        `(artefact path, sidecar path)`.

    Raises:
        ValueError: an unknown format or quantization, a model without a
            "final" output or a fixed input size, or no skeleton for its J.
        formats.MissingPackageError: the format's converter is not installed.
    """
    if fmt not in formats.FORMATS:
        raise ValueError(f"format must be one of {formats.FORMATS}. Received: format={fmt!r}")
    if quantization is not None and fmt != "litert":
        raise ValueError(f"quantization applies to the litert format only. "
                         f"Received: quantization={quantization!r} with format={fmt!r}")
    if fmt in formats.PACKAGES:
        formats.require_package(fmt)  # fail before the (slow) model load
    model_file = model if isinstance(model, (str, os.PathLike)) else None
    if model_file is not None:
        model = keras.models.load_model(model_file)
    if not isinstance(model.output, dict) or "final" not in model.output:
        raise ValueError('model must return a dict with a "final" output. '
                         f"Received outputs: {model.output_names}")
    num_joints = int(model.output["final"].shape[-1])
    skeleton = skeleton_for_model(skeleton, num_joints)
    path = formats.artifact_path(output, fmt)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    flip_permutation = skeleton.flip_permutation() if flip_test else None
    if fmt == "saved_model":
        export_saved_model(model, path, skeleton=skeleton, flip_test=flip_test,
                           quarter_offset=quarter_offset, padding=padding)
    elif fmt == "torch":
        with tempfile.TemporaryDirectory() as scratch:
            if model_file is None:  # the tracer loads a file, on its own backend
                model_file = os.path.join(scratch, "model.keras")
                model.save(model_file)
            export_torch_program(model_file, path, flip_permutation, quarter_offset, padding)
    else:
        graph = PoseGraph(model, flip_permutation, quarter_offset=quarter_offset,
                          padding=padding)
        if fmt == "litert":
            formats.export_litert(graph, path, quantization)
        elif fmt == "onnx":
            formats.export_onnx(graph, path)
        else:
            formats.export_openvino(graph, path)
    sidecar = write_sidecar(path, describe(model, fmt, skeleton, flip_test, quarter_offset,
                                           padding, quantization))
    return path, sidecar
