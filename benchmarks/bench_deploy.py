"""Deployment table: every export format of a model, measured in one run on this machine.

    python benchmarks/bench_deploy.py --model runs/mpii_sample_small_mdn_additive/model.keras \
        --output benchmarks/results/deploy_2core.md

For the given model (the main job's) and for a ResNet-50 OS16 MDN at 256x256
(untrained, seed 0: its speed and size are a real ResNet-50's; its keypoint
differences are measured on flat, untrained maps), per format: export time,
artefact size, single-photo latency (median of `--runs` calls, batch 1,
`--threads` threads, the flip test inside), the share of that latency spent
in the voting layer where a profiler can tell (ONNX Runtime's per-node
profile and OpenVINO's PERF_COUNT: the nodes under the "final" layer; the
PyTorch program's nodes timed one by one, those of the "voting" module; the
LiteRT Python interpreter has no per-operator profiler, and the SavedModel
is not profiled), and the largest keypoint
difference from the Keras model on built-in sample photos and on the real
photos in $MDN_TF_REAL_DATA (or ../shared/realdata). The main job's model is
also scored on the sample's validation split (PCKh@0.5) as Keras,
LiteRT float32, float16 and dynamic-range int8: each person is cropped in
TensorFlow to the network's input size, rounded to uint8 and sent as a
photo of that size, which every format (the Keras row "whole-image path"
too) crops to itself; the first Keras row is the evaluation's own path on
the float crop.
"""

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = (("litert", None), ("litert", "float16"), ("litert", "dynamic_int8"),
            ("onnx", None), ("openvino", None), ("torch", None), ("saved_model", None))


def _size_mb(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(f) for f in glob.glob(os.path.join(path, "**"), recursive=True)
                   if os.path.isfile(f)) / 1e6
    size = os.path.getsize(path)
    if path.endswith(".xml"):
        size += os.path.getsize(path[:-4] + ".bin")
    return size / 1e6


def _median_ms(call, photo, runs):
    call(photo)  # warm-up (and LiteRT's tensor allocation for this size)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call(photo)
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def _is_voting_node(name):
    """True for an ONNX / OpenVINO node made by the voting layer (TF name scope "final")."""
    return "/final" in name or "final_1/" in name


def _voting_share_onnx(path, photo, threads, runs=10):
    """Share of ONNX Runtime's per-node kernel time spent in the voting layer's nodes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "profile")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(runs):
        session.run(None, {name: photo[None]})
    with open(session.end_profiling(), encoding="utf-8") as f:
        events = [e for e in json.load(f) if e.get("cat") == "Node" and e["name"].endswith(
            "_kernel_time")]
    total = sum(e["dur"] for e in events)
    voting = sum(e["dur"] for e in events if _is_voting_node(e["name"]))
    return voting / total if total else float("nan")


def _voting_share_openvino(path, photo, threads, runs=10):
    """Share of OpenVINO's per-node time (PERF_COUNT) spent in the voting layer's nodes."""
    import openvino

    compiled = openvino.Core().compile_model(path, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True})
    request = compiled.create_infer_request()
    total = voting = 0.0
    for _ in range(runs):
        request.infer({0: photo[None]})
        for node in request.profiling_info:
            seconds = node.real_time.total_seconds()
            total += seconds
            voting += seconds if _is_voting_node(node.node_name) else 0.0
    return voting / total if total else float("nan")


def _voting_share_torch(path, photo, threads, runs=10):
    """Share of the ExportedProgram's per-node time spent in the voting layer's nodes.

    Nodes are timed one by one under `torch.fx.Interpreter` (which adds its
    own per-node overhead to every node alike); voting nodes are those whose
    module path ends in "voting" (`torch_program.py` registers the layer).
    """
    import torch

    torch.set_num_threads(threads)
    module = torch.export.load(path).module()
    voting_nodes = {node.name for node in module.graph.nodes
                    if "voting" in [module_path for module_path, _ in
                                    (node.meta.get("nn_module_stack") or {}).values()][-1:]}
    times = {}

    class Timed(torch.fx.Interpreter):
        def run_node(self, node):
            start = time.perf_counter()
            result = super().run_node(node)
            times[node.name] = times.get(node.name, 0.0) + time.perf_counter() - start
            return result

    image = torch.from_numpy(photo[None])
    with torch.no_grad():
        for _ in range(runs):
            Timed(module).run(image)
    total = sum(times.values())
    return sum(times[name] for name in voting_nodes if name in times) / total


VOTING_SHARE = {"onnx": _voting_share_onnx, "openvino": _voting_share_openvino,
                "torch": _voting_share_torch}


def _photos(real_dir, count):
    from mdn_tf.data import sample_data
    from mdn_tf.inference.images import read_image

    paths = sample_data.sample_data()
    sample = sorted(glob.glob(os.path.join(paths.mpii_images, "*.jpg")))[:count]
    real = sorted(glob.glob(os.path.join(real_dir, "*", "*.jpg"))) if real_dir else []
    return [read_image(p) for p in sample], [read_image(p) for p in real]


def _keras_runner(model_file):
    from mdn_tf.inference.geometry import whole_image_box
    from mdn_tf.inference.predictor import PosePredictor

    predictor = PosePredictor(model_file)

    def run(photo):
        keypoints, _ = predictor(photo, [whole_image_box(*photo.shape[:2])])
        return keypoints[0]

    return run


def measure(model_file, label, folder, sample, real, threads, runs):
    """One table's rows for the model in `model_file`."""
    from mdn_tf.deploy import export_model, load

    keras_run = _keras_runner(model_file)
    reference = {id(p): keras_run(p) for p in sample + real}
    photo = sample[0]
    rows = [{"model": label, "format": "Keras (.keras, TF, compiled op)", "export_s": None,
             "size_mb": os.path.getsize(model_file) / 1e6,
             "latency_ms": _median_ms(keras_run, photo, runs), "voting": None,
             "sample_px": 0.0, "real_px": 0.0 if real else None}]
    for fmt, quantization in VARIANTS:
        name = fmt + (f"_{quantization}" if quantization else "")
        start = time.time()
        path, _ = export_model(model_file, os.path.join(folder, name, "model"), fmt,
                               quantization=quantization)
        export_s = time.time() - start
        runner = load(path, threads=threads)

        def keypoints(p, runner=runner):
            return runner(p)["keypoints"]

        difference = {}
        for group, photos in (("sample", sample), ("real", real)):
            difference[group] = max((float(abs(keypoints(p) - reference[id(p)]).max())
                                     for p in photos), default=None)
        rows.append({"model": label, "format": name, "export_s": export_s,
                     "size_mb": _size_mb(path), "latency_ms": _median_ms(keypoints, photo, runs),
                     "voting": (VOTING_SHARE[fmt](path, photo, threads)
                                if fmt in VOTING_SHARE else None),
                     "sample_px": difference["sample"], "real_px": difference["real"]})
        print(f"{label} {name}: export {export_s:.1f} s, {rows[-1]['size_mb']:.2f} MB, "
              f"{rows[-1]['latency_ms']:.1f} ms, max keypoint difference "
              f"{difference['sample']:.3g} px (sample), {difference['real']} (real)", flush=True)
    return rows


def pckh_of_formats(model_file, folder, max_people=None):
    """PCKh@0.5 on the sample's validation split: Keras and each LiteRT variant, same crops."""
    import keras
    import numpy as np
    import tensorflow as tf

    from mdn_tf.data.datasets import load_split
    from mdn_tf.deploy import load
    from mdn_tf.evaluation.pckh import normalised_errors, pckh_table
    from mdn_tf.inference.images import read_image
    from mdn_tf.data import transforms
    from mdn_tf.inference.predict import predict_keypoints
    from mdn_tf.skeleton import get_skeleton

    model = keras.models.load_model(model_file)
    input_size = tuple(int(v) for v in model.inputs[0].shape[1:3])
    split = load_split("mpii", "valid", max_records=max_people)
    flip = get_skeleton("mpii").flip_permutation()
    runners = {"LiteRT " + (q or "float32"): load(os.path.join(folder, "litert" + (
        f"_{q}" if q else ""), "model.tflite")) for q in (None, "float16", "dynamic_int8")}
    keras_whole = _keras_runner(model_file)
    predictions = {"Keras (evaluation crop)": [], "Keras (whole-image path)": [],
                   **{name: [] for name in runners}}
    for record in split.records:
        image = tf.image.convert_image_dtype(read_image(record.image), tf.float32)
        # The evaluation's crop of this person (centre and scale of the record).
        to_input = transforms.affine_matrix(record.center, record.scale, input_size)
        crop = transforms.warp_image(image, to_input, input_size).numpy()
        to_image = transforms.invert_affine(to_input).numpy()
        # The artefacts take uint8 photos: every format sees the same uint8 crop.
        crop = np.clip(np.round(crop * 255.0), 0, 255).astype(np.uint8)
        keypoints, _ = predict_keypoints(model, tf.constant(crop[None] / 255.0, tf.float32),
                                         to_image[None], flip)
        predictions["Keras (evaluation crop)"].append(keypoints.numpy()[0])
        at_crop = keras_whole(crop)  # what every artefact runs: the crop as a whole photo
        predictions["Keras (whole-image path)"].append(at_crop @ to_image[:, :2].T + to_image[:, 2])
        for name, runner in runners.items():
            at_crop = runner(crop)["keypoints"]  # the crop is the whole photo: identity crop
            predictions[name].append(at_crop @ to_image[:, :2].T + to_image[:, 2])
    truth = split.ground_truth
    table = {}
    for name, rows in predictions.items():
        errors = normalised_errors(np.stack(rows), truth["joints"], truth["head_boxes"])
        table[name] = pckh_table(errors, ~truth["missing"])["Mean"]
    return table, len(split.records)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the main job's model.keras")
    parser.add_argument("--output", default=os.path.join("benchmarks", "results",
                                                         "deploy_2core.md"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--sample-photos", type=int, default=20)
    parser.add_argument("--no-resnet", action="store_true", help="skip the ResNet-50 rows")
    parser.add_argument("--max-people", type=int, default=None,
                        help="validation people for the PCKh rows (default: all 1000)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(args.threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import keras

    from mdn_tf.models import build_pose_model

    real_dir = os.environ.get("MDN_TF_REAL_DATA") or os.path.join("..", "shared", "realdata")
    real_dir = real_dir if os.path.isdir(real_dir) else None
    sample, real = _photos(real_dir, args.sample_photos)
    folder = tempfile.mkdtemp(prefix="bench_deploy_")
    began = time.time()
    rows = measure(args.model, "main job (small, 128x128)", os.path.join(folder, "main"),
                      sample, real, args.threads, args.runs)
    pckh, people = pckh_of_formats(args.model, os.path.join(folder, "main"), args.max_people)
    if not args.no_resnet:
        keras.utils.set_random_seed(0)
        resnet = build_pose_model("resnet50", "mdn", weights=None, input_shape=(256, 256, 3))
        resnet_file = os.path.join(folder, "resnet50.keras")
        resnet.save(resnet_file)
        more = measure(resnet_file, "ResNet-50 OS16 MDN, 256x256 (untrained)",
                          os.path.join(folder, "resnet"), sample, real, args.threads, args.runs)
        rows += more

    def cell(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        f"Deployment formats, measured in one run on this machine ({args.threads} threads, batch "
        f"1, flip test inside, median of {args.runs} calls on a "
        f"{sample[0].shape[1]}x{sample[0].shape[0]} sample photo); keypoint differences from the "
        f"Keras model over {len(sample)} sample photos and {len(real)} real photos. "
        f"`python benchmarks/bench_deploy.py --model {args.model}`, "
        f"{(time.time() - began) / 60:.0f} min.",
        "",
        "| model | format | export (s) | size (MB) | latency (ms) | voting share | max keypoint "
        "difference, sample (px) | real photos (px) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['format']} | {cell(row['export_s'], 1)} | "
            f"{row['size_mb']:.2f} | {row['latency_ms']:.1f} | "
            f"{'-' if row['voting'] is None else format(100 * row['voting'], '.1f') + '%'} | "
            f"{cell(row['sample_px'], 3)} | {cell(row['real_px'], 3)} |")
    lines += ["", f"PCKh@0.5 of the main job's model on the sample's validation split ({people} "
              "people, flip test, every format fed the same uint8 crop):", "",
              "| model | PCKh@0.5 |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in pckh.items()]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
