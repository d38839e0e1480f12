"""Deployment: a trained pose model in LiteRT, ONNX, OpenVINO and SavedModel form.

    from mdn_tf.deploy import export_model, load
    export_model("model.keras", "out/model", "litert")      # out/model.tflite + out/model.json
    keypoints = load("out/model.tflite")(photo)["keypoints"]

- `graph.py`: the graph every format holds (`PoseGraph`: one photo of any
  size in; keypoints, scores and final maps out; stock ops only);
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
