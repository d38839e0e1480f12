"""Times mass-displacement voting: compiled op vs pure TensorFlow (tf.function
and XLA), and against a ResNet-50 (output stride 16) training step.

    python benchmarks/bench_mass_displacement.py                 # full table
    python benchmarks/bench_mass_displacement.py --quick         # fewer cases
    python benchmarks/bench_mass_displacement.py --combine additive --skip-resnet
    python benchmarks/bench_mass_displacement.py --votes converged --quick
    python benchmarks/bench_mass_displacement.py --backends none  # no JAX/PyTorch cells

Sizes: B=32, J=16, H=W=64 (float32). Every case runs with two kinds of votes:
"random" (heatmaps uniform in [0, 1], offsets ~ N(0, 3) pixels) and
"converged", as a trained MDN casts them: joint j of each batch item sits at a
random point, heatmap j is a trained model's eps_c disk around it, and every
pixel within eps_c (3 map pixels, the training targets' default) of an edge's
source joint points exactly at the edge's target joint; other offsets stay
random (see make_inputs). Every cell is
the median of 3 to 200 calls (about --budget seconds) after a warm-up of 1 s
or 200 calls (which also compiles XLA). "forward" is a tf.function that takes no gradient (as in
inference), where the compiled op skips the statistics only a backward pass
reads; the forward of a training step, which keeps them, is printed apart.
Prints a Markdown table, the issue's targets with PASS/MISS, and the ResNet
comparison. The keras.ops path on JAX (jit) and PyTorch is timed in one
subprocess per backend (bench_keras_backends.py) and printed in a second
table. Not a test: run it on a quiet machine and read the medians.
"""

import argparse
import math
import os
import platform
import statistics
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vote_inputs  # noqa: E402
from vote_inputs import B, H, J, W  # noqa: E402,F401  (bench_keras_backends reads them here)

from mdn_tf.ops import custom_op  # noqa: E402
from mdn_tf.ops.voting_config import make_voting_config  # noqa: E402
from mdn_tf.ops.voting_tf import vote_tf  # noqa: E402

CASES = dict(vote_inputs.CASES)
# Each case again with converged votes (make_inputs), named "<case>, converged".
CASES.update({f"{name}, converged": dict(arguments, votes="converged")
              for name, arguments in list(CASES.items())})
QUICK_CASES = ["bilinear, within-part", "gaussian kf=13, within-part"]
def make_inputs(batch, num_edges, seed=0, votes="random", config=None):
    """`vote_inputs.make_inputs` as TensorFlow constants (and the upstream gradient)."""
    arrays, upstream = vote_inputs.make_inputs(batch, num_edges, seed, votes, config)
    return [tf.constant(x) for x in arrays], tf.constant(upstream)


def median_ms(function, args, budget_s, min_reps=3, max_reps=200, warmup_s=1.0, max_warmup=200):
    # Warm-up until steady state: tracing, XLA compilation, allocator growth,
    # thread-pool start. A fast cell gets 1 s of calls (at most 200): with
    # three, and then with 20, the first (fast) cell of a run still came out
    # 10-50% slower than the same cell measured later in the run. Fast cells
    # then take up to 200 timed calls, so that one slow stretch of this
    # shared VM moves the median less.
    start = time.perf_counter()
    for _ in range(max_warmup):
        function(*args)
        if time.perf_counter() - start > warmup_s:
            break
    start = time.perf_counter()
    function(*args)
    first = time.perf_counter() - start
    reps = max(min_reps, min(max_reps, math.ceil(budget_s / max(first, 1e-6))))
    times = [first]
    for _ in range(reps - 1):
        start = time.perf_counter()
        function(*args)  # CPU ops run synchronously: the call returns when done
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def voting_functions(vote, config, upstream, jit_compile):
    forward = tf.function(lambda h, x, y: vote(h, x, y, config), jit_compile=jit_compile)

    def forward_backward(h, x, y):
        with tf.GradientTape() as tape:
            tape.watch([h, x, y])
            maps = vote(h, x, y, config)
        return tape.gradient(maps, [h, x, y], output_gradients=upstream)

    return forward, tf.function(forward_backward, jit_compile=jit_compile)


def implementations():
    impls = []
    if custom_op.is_available():
        impls.append(("compiled op", custom_op.vote_custom_op, False))
    else:
        print(f"(compiled op unavailable: {custom_op.unavailable_reason()})")
    impls += [("pure TF, tf.function", vote_tf, False), ("pure TF, XLA", vote_tf, True)]
    return impls


def run_cases(names, combine, budget_s):
    results = {}
    for name in names:
        arguments = dict(CASES[name])
        votes = arguments.pop("votes", "random")
        config = make_voting_config(combine=combine, **arguments).for_channels(J)
        inputs, upstream = make_inputs(B, len(config.sources), votes=votes, config=config)
        upstream = upstream[..., : config.num_targets]
        for impl, vote, jit in implementations():
            forward, forward_backward = voting_functions(vote, config, upstream, jit)
            fwd = median_ms(forward, inputs, budget_s)
            both = median_ms(forward_backward, inputs, budget_s)
            results[name, impl] = (fwd, both)
            print(f"  {name:42s} {impl:22s} forward {fwd:9.1f} ms   "
                  f"forward+backward {both:9.1f} ms", flush=True)
    return results


def print_table(results, names, impls):
    """One markdown row per (case, implementation) that was timed."""
    print("\n| case | implementation | forward (ms) | forward+backward (ms) "
          "| fwd+bwd speed-up of the compiled op |")
    print("|---|---|---:|---:|---:|")
    for name in names:
        compiled = results.get((name, "compiled op"))
        for impl in impls:
            if (name, impl) not in results:
                continue
            fwd, both = results[name, impl]
            ratio = f"{both / compiled[1]:.1f}x" if compiled and impl != "compiled op" else ""
            print(f"| {name} | {impl} | {fwd:.1f} | {both:.1f} | {ratio} |")


# The keras.ops path on the other Keras backends (issue 14). Keras fixes its
# backend at import, so each backend times its cells in a subprocess
# (bench_keras_backends.py) with the same inputs, cases and median rule.
OTHER_BACKENDS = {"jax": "keras.ops, JAX jit", "torch": "keras.ops, PyTorch"}


def run_other_backends(backends, names, combine, budget_s, batch):
    """{(case, label): (forward ms, fwd+bwd ms)} from one subprocess per backend."""
    import importlib.util
    import json
    import subprocess

    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_keras_backends.py")
    results = {}
    for backend in backends:
        if importlib.util.find_spec(backend) is None:
            print(f"({backend} is not installed: no {OTHER_BACKENDS[backend]} cells)")
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        command = [sys.executable, worker, "--cases", json.dumps(names), "--combine", combine,
                   "--budget", str(budget_s), "--batch", str(batch)]
        # The worker's progress lines (stderr) pass through; stdout is its JSON.
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            print(f"({OTHER_BACKENDS[backend]} failed with exit code {done.returncode})")
            continue
        cells = json.loads(done.stdout.strip().splitlines()[-1])
        results.update({(name, OTHER_BACKENDS[backend]): tuple(cell)
                        for name, cell in cells.items()})
    return results


def print_other_backends_table(results, names):
    labels = [label for label in OTHER_BACKENDS.values()
              if any((name, label) in results for name in names)]
    if labels:
        print_table(results, names, labels)


def forward_keeping_statistics_ms(combine, budget_s):
    """Compiled bilinear within-part forward as a training step runs it: the
    statistics the backward pass reads (outputs 1 and 2 of the op) are kept."""
    config = make_voting_config(combine=combine, **CASES["bilinear, within-part"]).for_channels(J)
    inputs, _ = make_inputs(B, len(config.sources))

    @tf.function
    def forward(h, x, y):
        maps = custom_op.vote_custom_op(h, x, y, config)
        return [maps] + list(maps.op.outputs[1:])

    return median_ms(forward, inputs, budget_s)


def print_targets(results, names):
    if ("bilinear, within-part", "compiled op") not in results:
        return
    print("\nTargets (issue: 2-core machine):")
    bilinear = results["bilinear, within-part", "compiled op"]

    def line(ok, text):
        print(f"  [{'PASS' if ok else 'MISS'}] {text}")

    line(bilinear[0] <= 6.0, f"compiled forward, bilinear within-part: {bilinear[0]:.1f} ms "
         "(target <= 6 ms)")
    for name in names:
        compiled = results[name, "compiled op"][1]
        vs_tf = results[name, "pure TF, tf.function"][1] / compiled
        vs_xla = results[name, "pure TF, XLA"][1] / compiled
        line(vs_tf >= 8.0, f"{name}: fwd+bwd {vs_tf:.1f}x faster than pure TF (target >= 8x)")
        line(vs_xla >= 4.0, f"{name}: fwd+bwd {vs_xla:.1f}x faster than XLA (target >= 4x)")
    gauss = results.get(("gaussian kf=13, within-part", "compiled op"))
    if gauss:
        line(gauss[0] <= 15 * bilinear[0],
             f"Gaussian kf=13 forward = {gauss[0] / bilinear[0]:.1f}x bilinear (target <= 15x)")
        line(gauss[1] <= 15 * bilinear[1],
             f"Gaussian kf=13 fwd+bwd = {gauss[1] / bilinear[1]:.1f}x bilinear (target <= 15x)")


def resnet_training_step_ms(budget_s):
    """Median time of one SGD step of ResNet-50 at output stride 16, 256x256, batch 8."""
    import keras

    try:
        from mdn_tf.models import build_resnet_os16

        backbone = build_resnet_os16(50, input_shape=(256, 256, 3))
        label = "mdn_tf.models.build_resnet_os16(50) (output stride 16)"
    except ImportError:
        backbone = keras.applications.ResNet50(include_top=False, weights=None,
                                               input_shape=(256, 256, 3))
        label = "keras.applications.ResNet50 (output stride 32: mdn_tf.models not available)"
    images = keras.Input((256, 256, 3))
    features = backbone(images)
    maps = keras.layers.Conv2D(3 * J, 1, name="heads")(features)
    model = keras.Model(images, maps)
    optimizer = keras.optimizers.SGD(0.01)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(8, 256, 256, 3)).astype("float32"))
    y = tf.zeros((8,) + tuple(maps.shape[1:]))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return label, median_ms(step, (x, y), budget_s, min_reps=3, max_reps=5)


def main(argv=None):
    global B  # --batch: every input of the run is built at this batch size
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combine", default="noisy_or", choices=["additive", "noisy_or", "max"])
    parser.add_argument("--quick", action="store_true", help="bilinear and kf=13 only")
    parser.add_argument("--skip-resnet", action="store_true")
    parser.add_argument("--budget", type=float, default=2.0,
                        help="seconds of repeated calls per cell (at least 3 calls)")
    parser.add_argument("--votes", default="both", choices=["both", "random", "converged"],
                        help="random offsets, votes converged on joints as a trained MDN's "
                             "are, or both (default)")
    parser.add_argument("--batch", type=int, default=B,
                        help=f"batch size B (default {B}; a small B only checks that it runs)")
    parser.add_argument("--backends", default="jax,torch",
                        help="Keras backends whose keras.ops path is timed too, each in a "
                             "subprocess (comma-separated; 'none' for TensorFlow only)")
    args = parser.parse_args(argv)

    B = args.batch
    names = QUICK_CASES if args.quick else [name for name in CASES if "votes" not in CASES[name]]
    if args.votes != "random":
        converged = [f"{name}, converged" for name in names]
        names = converged if args.votes == "converged" else names + converged
    print(f"mdn_tf voting benchmark: B={B} J={J} H=W={H} float32, combine={args.combine}, "
          f"votes={args.votes}")
    print(f"TensorFlow {tf.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    other = [b for b in args.backends.split(",") if b and b != "none"]
    if set(other) - set(OTHER_BACKENDS):
        parser.error(f"--backends takes {sorted(OTHER_BACKENDS)} or 'none'. "
                     f"Received: --backends {args.backends}")
    # The other backends run first: TensorFlow's allocator keeps the peak of
    # the pure-TF Gaussian kf=13 cells (~16 GB here), and a JAX subprocess's
    # own kf=13 peak on top of it ran a 24 GB machine out of memory.
    other_results = run_other_backends(other, names, args.combine, args.budget, B)
    results = run_cases(names, args.combine, args.budget)
    results.update(other_results)
    print_table(results, names, [impl for impl, _, _ in implementations()])
    print_other_backends_table(results, names)
    if B == 32:  # the targets are set at the benchmark size
        print_targets(results, names)
    if custom_op.is_available() and "bilinear, within-part" in names:
        training = forward_keeping_statistics_ms(args.combine, args.budget)
        print(f"  (compiled forward, bilinear within-part, keeping the statistics for the "
              f"backward pass as in training: {training:.1f} ms)")

    if not args.skip_resnet:
        label, step = resnet_training_step_ms(args.budget)
        print(f"\nResNet-50 training step, 256x256, batch 8: {step:.0f} ms ({label})")
        for name in names:
            for impl in (i for i, _, _ in implementations()):
                both = results[name, impl][1]
                print(f"  {name:42s} {impl:22s} fwd+bwd at B=32 = {100 * both / step:6.1f}% "
                      f"of the step (B=8: ~{25 * both / step:5.1f}%)")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
