"""Deployment: a trained pose model in LiteRT, ONNX, OpenVINO, PyTorch and SavedModel form.

    from mdn_tf.deploy import export_model, load
    export_model("model.keras", "out/model", "litert")      # out/model.tflite + out/model.json
    keypoints = load("out/model.tflite")(photo)["keypoints"]

- `whole_image.py`: the path every format holds, in `keras.ops` (one photo
  of any size in; keypoints, scores and final maps out; stock ops only);
- `graph.py`: that path traced on TensorFlow (`PoseGraph`), for SavedModel,
  LiteRT, ONNX and OpenVINO;
- `torch_program.py`: the same path traced on Keras's PyTorch backend with
  `torch.export` (a `.pt2` ExportedProgram);
- `formats.py`: the converters, one per format, and quantized LiteRT;
- `sidecar.py`: the JSON beside each artefact (input, outputs, joints,
  skeleton, decoding convention);
- `runtimes.py`: running an artefact in its runtime (NumPy and the runtime's
  package only: no TensorFlow, no mdn_tf needed where it is deployed);
- `export.py`: `export_model`, the body of `mdn-tf export --format`.

`mdn_tf.deploy.runtimes` imports nothing heavy; importing this package
imports the exporters lazily.
"""

from mdn_tf.deploy.runtimes import artifact_format, load


def export_model(*args, **kwargs):
    """`mdn_tf.deploy.export.export_model` (imported on first use: it loads TensorFlow)."""
    from mdn_tf.deploy.export import export_model as export

    return export(*args, **kwargs)


__all__ = ["artifact_format", "export_model", "load"]
