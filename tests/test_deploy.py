"""Deployment formats: each artefact, in its own runtime, gives the `.keras` model's answers.

For LiteRT, ONNX, OpenVINO and PyTorch (`.pt2`), a small model (several voting rules and
kernels, within- and cross-part edges) is exported with `export_model`,
then loaded in a fresh Python process that does not import mdn_tf (the
runtime's package and the sidecar JSON only), and its keypoints and final
maps are compared with the `.keras` model's (keypoints within 0.05 px; maps
within 1e-4 for float32 artefacts). Quantized LiteRT is held to a stated
tolerance; `mdn-tf predict` on every format writes the `.keras` keypoints.
The formats' packages come with `pip install -e ".[deploy]"`; a format whose
package is missing is skipped here and gives one line naming it to users.
"""

import functools
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mdn_tf.deploy import formats, sidecar

RUNTIMES = {"litert": "ai_edge_litert", "onnx": "onnxruntime", "openvino": "openvino",
            "torch": "torch", "saved_model": "tensorflow"}
CONVERTERS = {"litert": None, "onnx": "tf2onnx", "openvino": "tf2onnx", "torch": None,
              "saved_model": None}
PHOTOS = ((90, 70), (50, 120))  # two sizes: the artefacts take photos of any size


def _available(fmt):
    needed = [RUNTIMES[fmt], CONVERTERS[fmt]]
    return all(name is None or importlib.util.find_spec(name) for name in needed)


def _photos():
    return [np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
            for height, width in PHOTOS]


# Runs in a fresh process: the runtime and the sidecar only, never mdn_tf.
_FRESH = r'''
import json, sys
import numpy as np
artifact, fmt, photos_file, out_file = sys.argv[1:5]
import os
side = json.load(open(os.path.join(artifact, "mdn_tf.json") if os.path.isdir(artifact)
                      else artifact.rsplit(".", 1)[0] + ".json"))
photos = np.load(photos_file)
results = {}
if fmt == "litert":
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=artifact, num_threads=2)
    run_input = interpreter.get_input_details()[0]["index"]
    outputs = [d["index"] for d in interpreter.get_output_details()]
    def run(image):
        interpreter.resize_tensor_input(run_input, image.shape, strict=False)
        interpreter.allocate_tensors()
        interpreter.set_tensor(run_input, image)
        interpreter.invoke()
        return dict(zip(side["output_order"], [interpreter.get_tensor(i) for i in outputs]))
elif fmt == "onnx":
    import onnxruntime
    session = onnxruntime.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    def run(image):
        return dict(zip(names, session.run(None, {session.get_inputs()[0].name: image})))
elif fmt == "openvino":
    import openvino
    compiled = openvino.Core().compile_model(artifact, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    def run(image):
        result = compiled(image)
        return {o.get_any_name(): result[o] for o in compiled.outputs}
elif fmt == "saved_model":
    import tensorflow as tf
    function = tf.saved_model.load(artifact).signatures["whole_image"]
    def run(image):
        return {name: value.numpy() for name, value in function(images=tf.constant(image)).items()}
else:
    import torch
    program = torch.export.load(artifact)
    namespaces = {node.target.namespace for node in program.graph.nodes
                  if node.op == "call_function" and hasattr(node.target, "namespace")}
    assert namespaces == {"aten"}, namespaces  # no custom operator
    module = program.module()
    def run(image):
        with torch.no_grad():
            values = module(torch.from_numpy(image))
        return dict(zip(side["output_order"], [v.numpy() for v in values]))
for key in photos.files:
    out = run(photos[key][None])
    for name in side["output_order"]:
        results[f"{key}/{name}"] = np.asarray(out[name])
np.savez(out_file, **results)
assert not any(m == "mdn_tf" or m.startswith("mdn_tf.") for m in sys.modules), "imported mdn_tf"
if fmt != "saved_model":  # loading a SavedModel imports TensorFlow, which imports Keras
    assert "keras" not in sys.modules and "tensorflow" not in sys.modules
print("ok")
'''


def _run_fresh(artifact, fmt, tmp_path):
    photos = {f"photo{n}": photo for n, photo in enumerate(_photos())}
    np.savez(tmp_path / "photos.npz", **photos)
    script = tmp_path / "fresh.py"
    script.write_text(_FRESH)
    run = subprocess.run([sys.executable, str(script), artifact, fmt,
                          str(tmp_path / "photos.npz"), str(tmp_path / "out.npz")],
                         capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path))  # not the repository: no mdn_tf on sys.path
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return np.load(tmp_path / "out.npz")


@functools.lru_cache(maxsize=None)
def _keras_reference(model_file):
    """Keypoints from the `.keras` predictor and maps from the same graph in TensorFlow.

    Computed once per model: every format is compared with the same reference.
    """
    import keras
    import tensorflow as tf

    from mdn_tf.deploy.graph import PoseGraph
    from mdn_tf.inference.geometry import whole_image_box
    from mdn_tf.inference.predictor import PosePredictor
    from mdn_tf.skeleton import get_skeleton

    predictor = PosePredictor(str(model_file))
    model = keras.models.load_model(model_file)
    graph = PoseGraph(model, get_skeleton("mpii").flip_permutation())
    reference = []
    for photo in _photos():
        keypoints, scores = predictor(photo, [whole_image_box(*photo.shape[:2])])
        maps = graph.whole_image(tf.constant(photo[None]))["maps"].numpy()
        reference.append({"keypoints": keypoints, "scores": scores, "maps": maps})
    return reference


def _decisive(maps, margin=2e-4):
    """`[J]` True where a map's argmax and its quarter-pixel step do not hinge on a near-tie.

    A keypoint is a function of its map only up to ties: where the best two
    pixels, or the two neighbours that set the quarter-pixel step, differ by
    less than `margin` (twice the maps' tolerance), another runtime's rounding
    may pick the other one. Untrained maps are flat, so this matters here.
    """
    maps = maps[0]
    height, width, joints = maps.shape
    flat = maps.reshape(-1, joints)
    ordered = np.sort(flat, axis=0)
    decisive = ordered[-1] - ordered[-2] > margin
    peak = flat.argmax(axis=0)
    for j in range(joints):
        y, x = divmod(int(peak[j]), width)
        for a, b in (((y, x - 1), (y, x + 1)), ((y - 1, x), (y + 1, x))):
            if all(0 <= p < n for p, n in zip(a + b, (height, width, height, width))):
                decisive[j] &= abs(maps[a + (j,)] - maps[b + (j,)]) > margin
    return decisive


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Small untrained MDNs (16 MPII joints, 64 x 64 input) as .keras files."""
    import keras

    from mdn_tf.models import build_pose_model

    folder = tmp_path_factory.mktemp("models")
    files = {}
    for key, options in {
        "additive-bilinear-within": dict(combine="additive"),
        "max-bilinear-cross": dict(combine="max", edges="cross_part"),
        "noisy_or-gaussian-within": dict(combine="noisy_or", kernel="gaussian", kernel_size=5),
    }.items():
        keras.utils.set_random_seed(3)
        model = build_pose_model("small", "mdn", input_shape=(64, 64, 3), small_filters=8,
                                 **options)
        files[key] = folder / f"{key}.keras"
        model.save(files[key])
    return files


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """`exported(fmt, key)`: the artefact and sidecar of model `key` in `fmt`, exported once.

    The format tests and the `mdn-tf predict` test share the artefacts
    (conversions are the slow part of this file).
    """
    from mdn_tf.deploy import export_model

    folder = tmp_path_factory.mktemp("artefacts")
    done = {}

    def export(fmt, key):
        if (fmt, key) not in done:
            done[fmt, key] = export_model(models[key], folder / fmt / key / "model", fmt)
        return done[fmt, key]

    return export


CASES = [
    pytest.param(fmt, key, marks=pytest.mark.skipif(not _available(fmt),
                                                    reason=f"{fmt} packages not installed"))
    for fmt in ("litert", "onnx", "openvino", "torch")
    for key in ("additive-bilinear-within", "max-bilinear-cross", "noisy_or-gaussian-within")
] + [pytest.param("saved_model", "noisy_or-gaussian-within")]  # its whole_image signature


@pytest.mark.parametrize("fmt,key", CASES)
def test_each_format_gives_the_keras_keypoints_and_maps_in_its_own_runtime(
        fmt, key, models, exported, tmp_path):
    artifact, side = exported(fmt, key)
    assert os.path.exists(artifact) and side == sidecar.sidecar_path(artifact)
    out = _run_fresh(artifact, fmt, tmp_path)
    checked = 0
    for n, expected in enumerate(_keras_reference(models[key])):
        np.testing.assert_allclose(out[f"photo{n}/maps"], expected["maps"], atol=1e-4)
        np.testing.assert_allclose(out[f"photo{n}/scores"], expected["scores"], atol=1e-4)
        decisive = _decisive(expected["maps"])
        np.testing.assert_allclose(out[f"photo{n}/keypoints"][0][decisive],
                                   expected["keypoints"][0][decisive], atol=0.05)
        checked += int(decisive.sum())
    assert checked >= 8  # a quarter of the 2 x 16 keypoints at least: the check has teeth


@pytest.mark.skipif(not _available("litert"), reason="ai-edge-litert not installed")
@pytest.mark.parametrize("quantization", ["float16", "dynamic_int8"])
def test_quantized_litert_stays_within_its_stated_tolerance(quantization, models, tmp_path):
    from mdn_tf.deploy import export_model, load

    model_file = models["additive-bilinear-within"]
    float_path, _ = export_model(model_file, tmp_path / "float", "litert")
    path, side = export_model(model_file, tmp_path / "quantized", "litert",
                              quantization=quantization)
    assert os.path.getsize(path) < os.path.getsize(float_path)
    assert json.loads(open(side).read())["quantization"] == quantization
    for photo in _photos():
        full, small = load(float_path)(photo), load(path)(photo)
        # The stated tolerance: final maps within 1% of their largest value (measured:
        # 0.2% for both). Keypoints follow where maps have clear peaks; an untrained
        # network's flat maps can move an argmax, so PCKh is what README reports.
        scale = float(np.abs(full["maps"]).max())
        assert float(np.abs(small["maps"] - full["maps"]).max()) <= 0.01 * scale


def test_the_sidecar_says_how_to_use_the_artifact(exported):
    if not _available("litert"):
        pytest.skip("ai-edge-litert not installed")
    _, path = exported("litert", "max-bilinear-cross")
    side = json.loads(open(path).read())
    assert side["format"] == "litert" and side["network_input_size"] == [64, 64]
    assert side["output_order"] == list(sidecar.OUTPUTS)
    assert len(side["joint_names"]) == 16 and side["skeleton"] == "mpii"
    assert side["outputs"]["maps"]["shape"] == [1, 16, 16, 16]
    assert side["voting"]["combine"] == "max" and side["flip_test"] is True
    assert "quarter-pixel" in side["decoding"]


def test_predict_on_every_format_writes_the_keras_keypoints(models, exported, tmp_path):
    from mdn_tf.cli import main as cli
    from PIL import Image

    photo = _photos()[0]
    image = str(tmp_path / "photo.png")
    Image.fromarray(photo).save(image)
    model_file = models["additive-bilinear-within"]
    artifacts = {"keras": str(model_file)}
    for fmt in ("saved_model", "litert", "onnx", "openvino", "torch"):
        if fmt == "saved_model" or _available(fmt):
            artifacts[fmt], _ = exported(fmt, "additive-bilinear-within")
    keypoints = {}
    for fmt, artifact in artifacts.items():
        out = tmp_path / f"out_{fmt}"
        assert cli.main(["predict", image, "--model", artifact, "--output-dir", str(out)]) == 0
        result = json.loads((out / "photo_pose.json").read_text())
        keypoints[fmt] = np.array(result["people"][0]["keypoints"], np.float64)
    for fmt in artifacts:
        np.testing.assert_allclose(keypoints[fmt], keypoints["keras"], atol=0.05, err_msg=fmt)


def test_a_format_without_its_package_gives_one_line_naming_it(monkeypatch, models, tmp_path,
                                                               capsys):
    from mdn_tf.cli import main as cli

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if not installed
    with pytest.raises(formats.MissingPackageError, match="pip install tf2onnx"):
        formats.require_package("onnx", "tf2onnx")
    assert cli.main(["export", "--model", str(models["additive-bilinear-within"]),
                     "--output", str(tmp_path / "m"), "--format", "onnx"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "the onnx format needs the tf2onnx package" in error[0]
    monkeypatch.setitem(sys.modules, "torch", None)
    assert cli.main(["export", "--model", str(models["additive-bilinear-within"]),
                     "--output", str(tmp_path / "m"), "--format", "torch"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "the torch format needs the torch package" in error[0]
    assert cli.main(["export", "--model", str(models["additive-bilinear-within"]),
                     "--output", str(tmp_path / "m"), "--quantization", "float16"]) == 1
    assert "--quantization applies to --format litert only" in capsys.readouterr().err


def test_a_photo_of_the_input_size_is_cropped_to_itself(models):
    # The whole-image box centres the crop on ((W - 1) / 2, (H - 1) / 2): a photo of the
    # network's input size comes back pixel for pixel, in the .keras path and in the graph
    # every artefact holds (before issue 20 both resampled it half a pixel off).
    import keras
    import tensorflow as tf

    from mdn_tf.deploy.graph import PoseGraph
    from mdn_tf.inference.geometry import whole_image_box
    from mdn_tf.inference.predict import crop_boxes

    photo = np.random.default_rng(5).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    expected = photo.astype(np.float32) / 255.0
    crops, _ = crop_boxes(photo, [whole_image_box(64, 64)], [0], (64, 64))
    np.testing.assert_allclose(crops.numpy(), expected, atol=1e-5)
    graph = PoseGraph(keras.models.load_model(models["additive-bilinear-within"]))
    crop, _ = graph.crop(tf.constant(photo))
    np.testing.assert_allclose(crop.numpy(), expected, atol=1e-5)


@pytest.mark.skipif(not _available("onnx"), reason="tf2onnx or onnxruntime not installed")
def test_onnx_votes_are_the_same_on_every_run_with_several_threads(exported):
    # ONNX Runtime applies ScatterND reductions from several threads without
    # synchronisation: with it, this model's maps varied by up to 0.028 between
    # identical runs on 2 threads. The export writes ScatterElements instead.
    import onnx
    import onnxruntime

    artifact, _ = exported("onnx", "noisy_or-gaussian-within")
    nodes = onnx.load(artifact).graph.node
    assert not [n for n in nodes if n.op_type == "ScatterND"
                and any(a.name == "reduction" and a.s != b"none" for a in n.attribute)]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(artifact, options, providers=["CPUExecutionProvider"])
    maps = [o.name for o in session.get_outputs()].index("maps")
    photo = {session.get_inputs()[0].name: _photos()[0][None]}
    first = session.run(None, photo)[maps]
    for _ in range(40):
        np.testing.assert_array_equal(session.run(None, photo)[maps], first)
