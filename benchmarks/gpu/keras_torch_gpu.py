"""MassDisplacement and a small MDN on the PyTorch backend of Keras, on a GPU (issue 21, item 1).

    KERAS_BACKEND=torch python3 benchmarks/gpu/keras_torch_gpu.py --out DIR          # GPU (cuda)
    KERAS_BACKEND=torch python3 benchmarks/gpu/keras_torch_gpu.py --device cpu --out DIR

Sections (`--sections`, comma-separated, in this order):

- `check`: the `keras` path of `MassDisplacement` against the independent
  NumPy reference (`tests/reference_voting.py`) for every rule (additive,
  noisy_or, max) x kernel (bilinear, Gaussian kf=5) x within/cross-part, in
  float32 and float64: the forward on `tests/voting_cases.random_inputs`
  (NaN/inf/far votes, exact integer landings, certain votes; the case list
  and tolerances of `tests/test_voting_any_backend.py`), and the gradients
  w.r.t. heatmaps and both offsets: torch autograd of sum(m * upstream)
  against central differences of the reference (float64, delta 1e-6) on
  every entry of every input (1x4x5 maps, 2-3 heatmaps, 2-5 edges, as the
  test), on `smooth_inputs` (away from every kink), both dtypes at the same
  (float32-representable) point. Tolerances: forward atol 1e-5 (float32) /
  1e-12 (float64); gradients rtol 1e-4 + atol 1e-4 (float32) / rtol 1e-5 +
  atol 1e-6 (float64, the test's).
- `train`: `build_pose_model("small", variant="mdn")` at 128x128 (32x32
  maps) compiled with `mdn_tf.losses.build_losses` (the `mdn-tf train`
  sample-data setup: Adam 2e-3, global clipnorm 1, batch 16, constant
  learning rate here) and fitted with `model.fit` for `--steps` steps on
  NumPy batches saved by `make_gpu_sample.py` (`.gpu_data/`, the tf.data
  pipeline's crops and targets). Prints the loss of the first and last 20
  steps and the steady-state throughput.
- `time`: the `keras` path (the layer, `implementation="keras"`) at the
  benchmark size B=32, J=16, 64x64, float32: forward (`torch.no_grad`) and
  forward+backward (`torch.autograd.grad` of all three inputs), random and
  converged votes, bilinear / Gaussian kf=5 / kf=13 within-part and
  bilinear cross-part (16 self + 15 tree edges), all three combines.
  Medians of CUDA-event times after warm-up (perf_counter on the CPU).
  Cells left when `--deadline` minus `--cpu-reserve` seconds have passed
  are skipped (and listed).
- `train_cpu`: the `train` run for `--cpu-steps` steps on the CPU, in a
  child process (`KERAS_TORCH_DEVICE=cpu`, `CUDA_VISIBLE_DEVICES=`), to put
  beside; it stops early to end before `--deadline`.

Needs no TensorFlow. If `import mdn_tf` needs it, the blocking lines are
recorded (file:line) and a minimal stand-in module is put in place of
`tensorflow` while mdn_tf is imported (`TensorShape` and four dtype names;
any other attribute raises and is recorded), then taken out of
`sys.modules` again, so Keras itself sees no TensorFlow.

Writes `keras_torch_gpu.log` and `keras_torch_gpu.json` under `--out`
(default `$OUT`); the JSON is rewritten after every section.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
import types
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DATA = os.path.join(ROOT, ".gpu_data", "mdn_small_sample.npz")
SECTIONS = ("check", "train", "time", "train_cpu")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--out", default=os.environ.get("OUT"))
    parser.add_argument("--sections", default=None,
                        help=f"default: all of {','.join(SECTIONS)} (without train_cpu "
                             "when --device cpu)")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=300, help="training steps (train)")
    parser.add_argument("--cpu-steps", type=int, default=40, help="training steps (train_cpu)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bench-batch", type=int, default=32, help="B of the timings")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds of timed calls per cell")
    parser.add_argument("--deadline", type=float, default=140.0,
                        help="seconds after start: later timing cells and the CPU run are cut")
    parser.add_argument("--cpu-reserve", type=float, default=45.0,
                        help="seconds before --deadline kept for train_cpu")
    parser.add_argument("--max-train-s", type=float, default=None,
                        help="stop training after this many seconds of fit")
    parser.add_argument("--name", default="keras_torch_gpu", help="log/JSON file stem")
    args = parser.parse_args(argv)
    if not args.out:
        parser.error("--out is required when $OUT is not set")
    if args.sections is None:
        args.sections = [s for s in SECTIONS if not (s == "train_cpu" and args.device == "cpu")]
    else:
        args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    return args


ARGS = parse_args()
os.environ.setdefault("KERAS_BACKEND", "torch")
if ARGS.device == "cpu":
    os.environ["KERAS_TORCH_DEVICE"] = "cpu"
START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402

import keras  # noqa: E402

sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import reference_voting  # noqa: E402
from voting_cases import CROSS_PART_EDGES, random_inputs, smooth_inputs  # noqa: E402

os.makedirs(ARGS.out, exist_ok=True)
LOG_PATH = os.path.join(ARGS.out, ARGS.name + ".log")
JSON_PATH = os.path.join(ARGS.out, ARGS.name + ".json")
_LOG = open(LOG_PATH, "a", encoding="utf-8")
RESULTS = {"args": {k: v for k, v in vars(ARGS).items()}, "sections": {}}


def log(*parts):
    line = " ".join(str(p) for p in parts)
    stamp = f"[{time.perf_counter() - START:7.1f}s] "
    for text in line.splitlines() or [""]:
        print(stamp + text, flush=True)
        _LOG.write(stamp + text + "\n")
    _LOG.flush()


def save():
    RESULTS["elapsed_s"] = round(time.perf_counter() - START, 2)
    with open(JSON_PATH + ".tmp", "w", encoding="utf-8") as f:
        json.dump(RESULTS, f, indent=1, default=str)
    os.replace(JSON_PATH + ".tmp", JSON_PATH)


def elapsed():
    return time.perf_counter() - START


# --------------------------------------------------------------------------------------------
# Importing mdn_tf without TensorFlow
# --------------------------------------------------------------------------------------------

class _TensorShape:
    """What mdn_tf's shape checks use of `tf.TensorShape` (TF2 semantics: ints or None)."""

    def __init__(self, dims):
        if isinstance(dims, _TensorShape):
            dims = dims._dims
        self._dims = None if dims is None else tuple(None if d is None else int(d) for d in dims)

    @property
    def rank(self):
        return None if self._dims is None else len(self._dims)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return _TensorShape(self._dims[index])
        return self._dims[index]

    def __len__(self):
        return len(self._dims)

    def __iter__(self):
        return iter(self._dims)

    def as_list(self):
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self._dims)

    def is_fully_defined(self):
        return self._dims is not None and all(d is not None for d in self._dims)

    def __repr__(self):
        return f"TensorShape({list(self._dims) if self._dims is not None else None})"


class _TensorFlowStub(types.ModuleType):
    """Stands in for `tensorflow` while mdn_tf is imported; records every use."""

    PROVIDED = {"TensorShape": _TensorShape, "float16": "float16", "bfloat16": "bfloat16",
                "float32": "float32", "float64": "float64"}

    def __init__(self):
        super().__init__("tensorflow")
        self.__file__ = "<keras_torch_gpu tensorflow stub>"
        self.accesses = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        frame = sys._getframe(1)
        where = f"{os.path.relpath(frame.f_code.co_filename, ROOT)}:{frame.f_lineno}"
        key = f"tf.{name} at {where} ({frame.f_code.co_name})"
        self.accesses[key] = self.accesses.get(key, 0) + 1
        if name in self.PROVIDED:
            return self.PROVIDED[name]
        raise AttributeError(f"tensorflow is not installed; the stub has no tf.{name} "
                             f"(used at {where})")


def _tensorflow_import_lines(module_names):
    """Top-level `import tensorflow` lines of the given mdn_tf modules, as file:line."""
    found = []
    for name in sorted(module_names):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        with open(path, encoding="utf-8") as f:
            for number, text in enumerate(f, 1):
                if text.startswith(("import tensorflow", "from tensorflow")):
                    found.append(f"{os.path.relpath(path, ROOT)}:{number}: {text.strip()}")
    return found


def import_mdn_tf():
    """Imports what the script uses from mdn_tf; returns a dict of what it took."""
    info = {"tensorflow_importable": None, "native_import": None, "stub_used": False}
    try:
        import tensorflow  # noqa: F401 - only: is it importable?

        info["tensorflow_importable"] = True
    except ImportError as error:
        info["tensorflow_importable"] = False
        info["tensorflow_import_error"] = str(error)
    names = ["mdn_tf", "mdn_tf.models", "mdn_tf.losses", "mdn_tf.final_supervision"]
    try:
        for name in names:
            __import__(name)
        info["native_import"] = True
    except ImportError as error:
        if "tensorflow" not in str(error):
            raise
        info["native_import"] = False
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f.filename.startswith(os.path.join(ROOT, "mdn_tf"))]
        info["import_error"] = f"{type(error).__name__}: {error}"
        info["import_chain"] = [f"{os.path.relpath(f.filename, ROOT)}:{f.lineno}: {f.line}"
                                for f in frames]
        for name in [n for n in sys.modules if n == "mdn_tf" or n.startswith("mdn_tf.")]:
            del sys.modules[name]
        stub = _TensorFlowStub()
        had, previous = "tensorflow" in sys.modules, sys.modules.get("tensorflow")
        sys.modules["tensorflow"] = stub
        try:
            for name in names:
                __import__(name)
        finally:
            if had:
                sys.modules["tensorflow"] = previous
            else:
                del sys.modules["tensorflow"]
        info["stub_used"] = True
        info["_stub"] = stub
    mdn_modules = [n for n in sys.modules if n == "mdn_tf" or n.startswith("mdn_tf.")]
    info["tensorflow_import_lines"] = _tensorflow_import_lines(mdn_modules)
    return info


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def sync():
    if ARGS.device == "cuda":
        torch.cuda.synchronize()


def tensor(array, dtype, requires_grad=False):
    return torch.tensor(np.asarray(array), dtype=getattr(torch, dtype), device=ARGS.device,
                        requires_grad=requires_grad)


def numpy(t):
    return t.detach().cpu().numpy()


def verdict(ok):
    return "PASS" if ok else "FAIL"


# --------------------------------------------------------------------------------------------
# check: the keras path against the NumPy reference
# --------------------------------------------------------------------------------------------

COMBINES = ["additive", "noisy_or", "max"]
KERNELS = [("bilinear", 5), ("gaussian", 5)]
EDGE_SETS = [("within_part", None), ("cross_part", CROSS_PART_EDGES)]
FORWARD_ATOL = {"float32": 1e-5, "float64": 1e-12}
GRAD_TOL = {"float32": (1e-4, 1e-4), "float64": (1e-5, 1e-6)}  # rtol, atol


def _layer(dtype, **arguments):
    from mdn_tf import MassDisplacement

    return MassDisplacement(implementation="keras", dtype=dtype, **arguments)


def _kernel_label(kernel, kernel_size):
    return kernel if kernel == "bilinear" else f"{kernel} kf={kernel_size}"


def check_forward(summary):
    rows = []
    for combine in COMBINES:
        for kernel, kernel_size in KERNELS:
            for edges_name, edges in EDGE_SETS:
                num_edges = None if edges is None else len(edges)
                arguments = dict(combine=combine, kernel=kernel, kernel_size=kernel_size,
                                 edges=edges, displacement_scale=1.25)
                for dtype in ("float32", "float64"):
                    inputs = random_inputs(seed=7, num_edges=num_edges, dtype=dtype)
                    expected = reference_voting.vote(*inputs, **arguments)
                    result = _layer(dtype, **arguments)(*(tensor(x, dtype) for x in inputs))
                    got = numpy(result)
                    error = float(np.max(np.abs(got - expected)))
                    ok = (got.dtype == np.dtype(dtype) and np.all(np.isfinite(got))
                          and error <= FORWARD_ATOL[dtype] and result.device.type == ARGS.device)
                    name = f"forward {combine:8s} {_kernel_label(kernel, kernel_size)} " \
                           f"{edges_name:11s} {dtype}"
                    log(f"{verdict(ok)} {name:55s} max|err| {error:.2e} "
                        f"(atol {FORWARD_ATOL[dtype]:g}) on {result.device}")
                    rows.append(dict(test=name, ok=bool(ok), max_abs_error=error,
                                     atol=FORWARD_ATOL[dtype], device=str(result.device),
                                     dtype=str(got.dtype)))
    summary["forward"] = rows


def _reference_loss(inputs, upstream, arguments):
    return float(np.sum(upstream * reference_voting.vote(*inputs, **arguments)))


def check_gradients(summary, entries_per_input=None, delta=1e-6):
    """entries_per_input None: every entry of every input (the maps are tiny)."""
    rows = []
    for combine in COMBINES:
        for kernel, kernel_size in KERNELS:
            for edges_name, all_edges in EDGE_SETS:
                # As tests/test_voting_any_backend.py: 3 maps and 5 edges cross-part,
                # offsets halved with displacement_scale 2 (landings away from kinks).
                num_maps = 3 if all_edges else 2
                edges = all_edges[:5] if all_edges else None
                num_edges = len(edges) if edges else None
                seed = zlib.crc32(f"{combine}{kernel}{edges}".encode())
                inputs = list(smooth_inputs(seed=seed, num_maps=num_maps, num_edges=num_edges))
                inputs[1] = inputs[1] / 2.0
                inputs[2] = inputs[2] / 2.0
                # One point for both dtypes: the float32 values, held in float64.
                inputs = [x.astype(np.float32).astype(np.float64) for x in inputs]
                arguments = dict(combine=combine, kernel=kernel, kernel_size=kernel_size,
                                 edges=edges, displacement_scale=2.0)
                output_shape = inputs[0].shape[:3] + (num_maps if edges is None else 3,)
                upstream = np.random.default_rng(1).normal(size=output_shape)
                analytic = {}
                for dtype in ("float32", "float64"):
                    tensors = [tensor(x, dtype, requires_grad=True) for x in inputs]
                    m = _layer(dtype, **arguments)(*tensors)
                    loss = torch.sum(m * tensor(upstream, dtype))
                    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
                    analytic[dtype] = [
                        np.zeros(x.shape) if g is None else numpy(g).astype(np.float64)
                        for g, x in zip(grads, inputs)]
                # Central differences of the reference on a few entries per input.
                rng = np.random.default_rng(seed)
                picks, numerical = [], []
                for index, x in enumerate(inputs):
                    if entries_per_input is None:
                        chosen = range(x.size)
                    else:
                        magnitude = np.abs(analytic["float64"][index]).reshape(-1)
                        top = list(np.argsort(-magnitude)[:entries_per_input // 2])
                        rest = [i for i in rng.permutation(x.size) if i not in top]
                        chosen = top + rest[: entries_per_input - len(top)]
                    for element in chosen:
                        slope = []
                        for sign in (1.0, -1.0):
                            perturbed = [y.copy() for y in inputs]
                            perturbed[index].reshape(-1)[element] += sign * delta
                            slope.append(_reference_loss(perturbed, upstream, arguments))
                        picks.append((index, int(element)))
                        numerical.append((slope[0] - slope[1]) / (2.0 * delta))
                numerical = np.array(numerical)
                for dtype in ("float32", "float64"):
                    rtol, atol = GRAD_TOL[dtype]
                    got = np.array([analytic[dtype][i].reshape(-1)[e] for i, e in picks])
                    error = np.abs(got - numerical)
                    finite = all(np.all(np.isfinite(g)) for g in analytic[dtype])
                    nonzero = all(np.abs(g).max() > 0 for g in analytic[dtype])
                    ok = finite and nonzero and bool(
                        np.all(error <= atol + rtol * np.abs(numerical)))
                    by_input = {n: float(error[[i == k for i, _ in picks]].max())
                                for k, n in enumerate(("heatmaps", "offsets_x", "offsets_y"))}
                    relative = float(np.max(error / np.maximum(np.abs(numerical), 1e-12)))
                    name = f"gradient {combine:8s} {_kernel_label(kernel, kernel_size)} " \
                           f"{edges_name:11s} {dtype}"
                    log(f"{verdict(ok)} {name:55s} max|err| c {by_input['heatmaps']:.1e} "
                        f"ox {by_input['offsets_x']:.1e} oy {by_input['offsets_y']:.1e} "
                        f"(max rel {relative:.1e}; rtol {rtol:g} atol {atol:g}; "
                        f"{len(picks)} entries)")
                    rows.append(dict(test=name, ok=bool(ok), max_abs_error=by_input,
                                     max_rel_error=relative, rtol=rtol, atol=atol,
                                     entries=len(picks), finite=bool(finite),
                                     nonzero=bool(nonzero)))
                difference = max(float(np.max(np.abs(a - b))) for a, b in
                                 zip(analytic["float32"], analytic["float64"]))
                rows[-1]["float32_vs_float64_all_entries"] = difference
    summary["gradients"] = rows


def section_check():
    summary = {}
    RESULTS["sections"]["check"] = summary
    start = time.perf_counter()
    check_forward(summary)
    save()
    check_gradients(summary)
    rows = summary["forward"] + summary["gradients"]
    failed = [r["test"] for r in rows if not r["ok"]]
    summary.update(passed=len(rows) - len(failed), failed=failed,
                   seconds=round(time.perf_counter() - start, 1))
    log(f"check: {len(rows) - len(failed)}/{len(rows)} PASS"
        + (f"; FAILED: {failed}" if failed else "") + f" ({summary['seconds']} s)")


# --------------------------------------------------------------------------------------------
# train: a small MDN with model.fit
# --------------------------------------------------------------------------------------------

def pack_targets(data, output_names):
    """NumPy `mdn_tf.losses.pack_targets`: target and weight on the channel axis."""
    joint = data["joint_weights"][:, None, None, :].astype(np.float32)

    def pack(target, weight):
        target = target.astype(np.float32)
        return np.concatenate([target, np.broadcast_to(weight, target.shape).astype(np.float32)],
                              axis=-1)

    packed = {}
    for name in output_names:
        if name == "heatmaps" or (name.startswith("stack_") and name.endswith("_heatmaps")):
            packed[name] = pack(data["heatmaps"], joint)
        elif name in ("offsets_x", "offsets_y"):
            packed[name] = pack(data[name], data["offset_weights"])
        elif name == "final":
            packed[name] = pack(data["final"], joint)
    return packed


class StepRecorder(keras.callbacks.Callback):
    """Per-step loss (from Keras's running epoch mean) and wall time; stops after `steps`."""

    def __init__(self, steps, max_seconds=None):
        super().__init__()
        self.steps, self.max_seconds = steps, max_seconds
        self.times, self.losses, self.previous_mean = [], [], None
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        sync()
        self.times.append(time.perf_counter())
        mean = float(logs["loss"])
        if batch == 0:
            loss = mean
        else:
            loss = (batch + 1) * mean - batch * self.previous_mean
        self.previous_mean = mean
        self.losses.append(loss)
        if len(self.losses) >= self.steps or (
                self.max_seconds is not None
                and self.times[-1] - self.start > self.max_seconds and len(self.losses) >= 8):
            self.model.stop_training = True


def train(steps, label):
    from mdn_tf.final_supervision import FinalSupervision
    from mdn_tf.losses import build_losses
    from mdn_tf.models import build_pose_model

    if not os.path.exists(ARGS.data):
        raise FileNotFoundError(f"{ARGS.data} is missing: run benchmarks/gpu/make_gpu_sample.py "
                                "and carry .gpu_data")
    with np.load(ARGS.data) as f:
        data = {k: f[k] for k in f.files}
    combine, edges, kernel = (str(data[k]) for k in ("combine", "edges", "kernel"))
    kernel_size, size = int(data["kernel_size"]), int(data["input_size"])
    images = data["images"].astype(np.float32) / np.float32(255.0)
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model = build_pose_model("small", "mdn", num_joints=16, edges=edges, combine=combine,
                             kernel=kernel, kernel_size=kernel_size, input_shape=(size, size, 3),
                             small_filters=32, implementation="keras")
    supervision = FinalSupervision(combine, kernel, kernel_size)
    losses, loss_weights = build_losses(model.output_names, "mdn", combine,
                                        final_supervision=supervision)
    model.compile(optimizer=keras.optimizers.Adam(2e-3, global_clipnorm=1.0), loss=losses,
                  loss_weights=loss_weights)
    targets = pack_targets(data, model.output_names)
    built_s = time.perf_counter() - start
    batch = ARGS.batch_size
    steps_per_epoch = len(images) // batch
    epochs = -(-steps // steps_per_epoch)
    recorder = StepRecorder(steps, ARGS.max_train_s)
    sync()
    start = time.perf_counter()
    model.fit(images, targets, batch_size=batch, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[recorder])
    sync()
    times = np.array(recorder.times) - start
    step_times = np.diff(np.concatenate([[0.0], times]))
    n = len(recorder.losses)
    window = min(20, max(1, n // 4))
    first = float(np.mean(recorder.losses[:window]))
    last = float(np.mean(recorder.losses[-window:]))
    warm = max(0, min(max(5, n // 5), n - 2))  # steady state: after the first fifth (>= 5)
    steady_s = times[-1] - times[warm - 1] if warm >= 1 else times[-1]
    throughput = (n - warm) * batch / steady_s
    finite = bool(np.all(np.isfinite(recorder.losses)))
    ok = finite and last < first
    weights = model.count_params()
    result = dict(
        label=label, device=ARGS.device, steps=n, steps_asked=steps, batch_size=batch,
        input_size=size,
        combine=combine, edges=edges, kernel=kernel, kernel_size=kernel_size,
        output_names=list(model.output_names), parameters=int(weights),
        variable_device=str(model.trainable_variables[0].value.device),
        build_compile_s=round(built_s, 2), first_step_s=round(float(step_times[0]), 3),
        total_fit_s=round(float(times[-1]), 2),
        loss_first_mean=first, loss_last_mean=last, mean_window=window,
        steady_from_step=warm, steady_images_per_s=round(float(throughput), 1),
        steady_median_step_ms=round(float(np.median(step_times[warm:]) * 1e3), 2),
        losses=[round(float(v), 5) for v in recorder.losses], ok=ok,
        torch_threads=torch.get_num_threads(),
    )
    log(f"{verdict(ok)} train {label}: small MDN ({combine}, {edges}, {kernel}), "
        f"{weights} parameters on {result['variable_device']}, {n} steps x {batch} images "
        f"{size}x{size}: loss first {window} steps {first:.4f} -> last {window} {last:.4f}")
    log(f"     throughput (steady, steps {warm + 1}-{n}) {throughput:.1f} images/s, median step "
        f"{result['steady_median_step_ms']:.1f} ms; first step {step_times[0]:.2f} s; "
        f"build+compile {built_s:.1f} s; fit {times[-1]:.1f} s")
    return result


def section_train():
    RESULTS["sections"]["train"] = train(ARGS.steps, ARGS.device)


def section_train_cpu():
    """The training run on the CPU in a child process (Keras fixes its device at import)."""
    steps = ARGS.cpu_steps
    left = ARGS.deadline - elapsed()
    if left < 20:
        RESULTS["sections"]["train_cpu"] = {"skipped": f"deadline ({left:.0f} s left)"}
        log(f"SKIP train_cpu: {left:.0f} s left before the deadline")
        return
    child_out = os.path.join("/tmp", f"keras_torch_gpu_cpu_{os.getpid()}")
    env = {**os.environ, "KERAS_BACKEND": "torch", "KERAS_TORCH_DEVICE": "cpu",
           "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, os.path.abspath(__file__), "--device", "cpu", "--sections",
               "train", "--steps", str(steps), "--out", child_out, "--data", ARGS.data,
               "--batch-size", str(ARGS.batch_size), "--name", "train_cpu",
               "--max-train-s", str(max(5.0, left - 20.0))]
    log(f"train_cpu: {' '.join(command)}")
    start = time.perf_counter()
    try:
        process = subprocess.run(command, env=env, capture_output=True, text=True,
                                 timeout=max(20.0, left + 5.0))
        output, code = process.stdout + process.stderr, process.returncode
    except subprocess.TimeoutExpired as error:
        output, code = (error.stdout or "") + (error.stderr or ""), "timeout"
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
    for line in output.splitlines()[-40:]:
        log("  | " + line)
    result = {"returncode": code, "seconds": round(time.perf_counter() - start, 1)}
    path = os.path.join(child_out, "train_cpu.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            child = json.load(f)
        result.update(child.get("sections", {}).get("train", {}))
        result["child_import"] = child.get("import")
    RESULTS["sections"]["train_cpu"] = result


# --------------------------------------------------------------------------------------------
# time: the keras path at the benchmark size
# --------------------------------------------------------------------------------------------

# The sizes, cases and inputs of bench_mass_displacement.py (benchmarks/vote_inputs.py,
# NumPy only: this machine has no TensorFlow).
from vote_inputs import CASES as TIME_CASES  # noqa: E402
from vote_inputs import H, J, W, make_inputs  # noqa: E402


def median_ms(function, args, budget_s, min_reps=5, max_reps=100, warmup_s=0.15, max_warmup=30):
    for _ in range(2):
        function(*args)
    sync()
    start = time.perf_counter()
    warm = 0
    while warm < max_warmup and time.perf_counter() - start < warmup_s:
        function(*args)
        warm += 1
    sync()
    times = []
    spent = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps
                                     or time.perf_counter() - spent < budget_s):
        if ARGS.device == "cuda":
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            function(*args)
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end))
        else:
            begin = time.perf_counter()
            function(*args)
            times.append((time.perf_counter() - begin) * 1e3)
    return statistics.median(times), len(times)


def section_time():
    from mdn_tf import MassDisplacement
    from mdn_tf.ops.voting_config import make_voting_config
    from mdn_tf.ops.voting_keras import vote_keras

    rows = []
    summary = {"B": ARGS.bench_batch, "J": J, "H": H, "W": W, "dtype": "float32",
               "timer": "cuda events" if ARGS.device == "cuda" else "perf_counter",
               "cells": rows}
    RESULTS["sections"]["time"] = summary
    cut = False
    for votes in ("random", "converged"):
        for case, arguments in TIME_CASES.items():
            arguments = dict(arguments)
            name = case if votes == "random" else f"{case}, converged"
            for combine in COMBINES:
                if elapsed() > ARGS.deadline - ARGS.cpu_reserve:
                    cut = True
                    rows.append(dict(case=name, combine=combine, skipped="deadline"))
                    continue
                config = make_voting_config(combine=combine, **arguments).for_channels(J)
                arrays, upstream = make_inputs(ARGS.bench_batch, len(config.sources), votes=votes,
                                               config=config)
                inputs = [tensor(a, "float32") for a in arrays]
                upstream = tensor(upstream[..., : config.num_targets], "float32")
                layer = MassDisplacement(combine=combine, implementation="keras", **arguments)

                def forward(h, x, y):
                    with torch.no_grad():
                        return layer(h, x, y)

                def forward_backward(h, x, y):
                    leaves = [t.detach().requires_grad_(True) for t in (h, x, y)]
                    return torch.autograd.grad(layer(*leaves), leaves, grad_outputs=upstream)

                row = dict(case=name, combine=combine)
                try:
                    if ARGS.device == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    row["forward_ms"], row["forward_reps"] = median_ms(forward, inputs, ARGS.budget)
                    row["both_ms"], row["both_reps"] = median_ms(forward_backward, inputs,
                                                                 ARGS.budget)
                    if ARGS.device == "cuda":
                        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
                    if votes == "random" and case.startswith("bilinear, within") \
                            and combine == "noisy_or":
                        # The layer's own cost: vote_keras called directly, as bench_keras_backends.
                        def direct(h, x, y):
                            with torch.no_grad():
                                return vote_keras(h, x, y, config)

                        row["forward_vote_keras_ms"], _ = median_ms(direct, inputs, ARGS.budget)
                except Exception as error:  # noqa: BLE001 - record and go on
                    row["error"] = f"{type(error).__name__}: {error}"
                    if ARGS.device == "cuda":
                        torch.cuda.empty_cache()
                rows.append(row)
                if "error" in row:
                    log(f"FAIL time {name:52s} {combine:8s} {row['error'][:200]}")
                else:
                    extra = (f"  (vote_keras direct fwd {row['forward_vote_keras_ms']:.3f} ms)"
                             if "forward_vote_keras_ms" in row else "")
                    memory = f"  peak {row['peak_gib']:.1f} GiB" if "peak_gib" in row else ""
                    log(f"time {name:52s} {combine:8s} forward {row['forward_ms']:9.3f} ms "
                        f"fwd+bwd {row['both_ms']:9.3f} ms{memory}{extra}")
                save()
    summary["cut_by_deadline"] = cut
    if cut:
        skipped = sum(1 for r in rows if "skipped" in r)
        log(f"time: {skipped} cells skipped (--deadline {ARGS.deadline:g} s)")
    if ARGS.device == "cuda":
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------

def environment(import_info):
    info = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": torch.__version__, "keras": keras.__version__, "numpy": np.__version__,
        "keras_backend": keras.backend.backend(), "device": ARGS.device,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    RESULTS["environment"] = info
    log("environment: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    stub = import_info.pop("_stub", None)
    RESULTS["import"] = import_info
    if import_info["native_import"]:
        log("import mdn_tf: native (tensorflow importable: "
            f"{import_info['tensorflow_importable']})")
    else:
        log("BLOCKER import mdn_tf without TensorFlow: " + import_info["import_error"])
        for line in import_info["import_chain"]:
            log("    " + line)
        log("  -> imported with the stand-in `tensorflow` module (TensorShape + dtype names)")
    if import_info["tensorflow_import_lines"]:
        log("  top-level TensorFlow imports in the mdn_tf modules loaded:")
        for line in import_info["tensorflow_import_lines"]:
            log("    " + line)
    return stub


def main():
    log(f"keras_torch_gpu.py {' '.join(sys.argv[1:])}")
    if keras.backend.backend() != "torch":
        raise SystemExit(f"run with KERAS_BACKEND=torch (Keras runs on {keras.backend.backend()})")
    if ARGS.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but torch sees no GPU")
    import_info = import_mdn_tf()
    stub = environment(import_info)
    if ARGS.device == "cuda":
        start = time.perf_counter()
        torch.zeros(1, device="cuda").sum().item()
        RESULTS["environment"]["cuda_init_s"] = round(time.perf_counter() - start, 2)
    save()
    functions = {"check": section_check, "train": section_train, "time": section_time,
                 "train_cpu": section_train_cpu}
    for name in SECTIONS:
        if name not in ARGS.sections:
            continue
        log(f"== {name}")
        start = time.perf_counter()
        try:
            functions[name]()
        except Exception as error:  # noqa: BLE001 - one section's failure must not lose the rest
            RESULTS["sections"].setdefault(name, {})
            if not isinstance(RESULTS["sections"][name], dict):
                RESULTS["sections"][name] = {}
            RESULTS["sections"][name]["error"] = traceback.format_exc()
            log(f"FAIL section {name}: {type(error).__name__}: {error}")
            log(traceback.format_exc())
        log(f"== {name} done in {time.perf_counter() - start:.1f} s")
        if stub is not None:
            RESULTS["import"]["stub_accesses"] = dict(stub.accesses)
        save()
    if stub is not None:
        log("tensorflow stand-in used at run time:")
        for key, count in sorted(stub.accesses.items()):
            log(f"    {key} x{count}")
    summary = []
    sections = RESULTS["sections"]
    if "check" in sections and "passed" in sections["check"]:
        check = sections["check"]
        summary.append(f"check {check['passed']}/{check['passed'] + len(check['failed'])} PASS")
    for name in ("train", "train_cpu"):
        run = sections.get(name, {})
        if "steady_images_per_s" in run:
            summary.append(f"{name} ({run['device']}) {'PASS' if run['ok'] else 'FAIL'} loss "
                           f"{run['loss_first_mean']:.3f}->{run['loss_last_mean']:.3f}, "
                           f"{run['steady_images_per_s']:.0f} img/s")
        elif name in sections:
            summary.append(f"{name} FAIL/skipped")
    if "time" in sections:
        cells = sections["time"]["cells"]
        done = sum(1 for c in cells if "both_ms" in c)
        summary.append(f"time {done}/{len(cells)} cells")
    RESULTS["summary"] = "; ".join(summary)
    log(f"SUMMARY {RESULTS['summary']}")
    log(f"total {elapsed():.1f} s; {LOG_PATH}, {JSON_PATH}")
    save()


if __name__ == "__main__":
    main()
