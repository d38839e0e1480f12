"""The CPU kernel's alternative code paths give bit-identical results.

The forward pass splits its work into (batch item, group of target maps)
units whose size depends on the batch and the thread count, takes an AVX-512
path on CPUs that have it (MDN_TF_CPU_SIMD=sse2 forces the portable one), and
keeps noisy-OR zero-factor counts inside the saved statistics. None of these
choices may change a single bit of the outputs or gradients.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf import mass_displacement
from mdn_tf.ops import custom_op
from voting_cases import CROSS_PART_EDGES, random_inputs

pytestmark = pytest.mark.skipif(
    not custom_op.is_available(),
    reason=f"compiled op unavailable: {custom_op.unavailable_reason()}",
)

# 17 maps: one full 16-lane vector plus a 1-lane remainder on the AVX-512 path.
WITHIN_17 = dict(edges=None, num_maps=17)
CROSS = dict(edges=CROSS_PART_EDGES, num_maps=4)
# 37 columns: two full 16-pixel chunks and a partial one in the backward paths.
WIDE = dict(edges=None, num_maps=5, width=37)


def _forward_and_gradients(combine, kernel, case, batch=3, seed=5):
    heatmaps, offsets_x, offsets_y = random_inputs(
        seed=seed, batch=batch, height=11, width=case.get("width", 14),
        num_maps=case["num_maps"],
        num_edges=len(case["edges"]) if case["edges"] else case["num_maps"])
    heatmaps[0, 3, 4, :] = 1.0  # certain votes (noisy-OR zero factors)
    heatmaps, offsets_x, offsets_y = (tf.constant(x) for x in (heatmaps, offsets_x, offsets_y))
    with tf.GradientTape() as tape:
        tape.watch([heatmaps, offsets_x, offsets_y])
        maps = mass_displacement(heatmaps, offsets_x, offsets_y, combine=combine, kernel=kernel,
                                 kernel_size=3, edges=case["edges"], implementation="custom_op")
    upstream = tf.constant(np.random.default_rng(seed).normal(size=maps.shape), maps.dtype)
    grads = tape.gradient(maps, [heatmaps, offsets_x, offsets_y], output_gradients=upstream)
    return [maps.numpy()] + [g.numpy() for g in grads]


@pytest.mark.parametrize("kernel", ["bilinear", "gaussian"])
@pytest.mark.parametrize("case", [WITHIN_17, CROSS], ids=["within17", "cross"])
@pytest.mark.parametrize("combine", ["additive", "noisy_or", "max"])
def test_a_batch_item_gives_the_same_bits_alone_and_in_a_batch(combine, case, kernel):
    # The forward pass groups an item's maps into units to keep the threads
    # busy: the fewer the items, the more (and smaller) the groups.
    whole = _forward_and_gradients(combine, kernel, case, batch=3)
    heatmaps, offsets_x, offsets_y = random_inputs(
        seed=5, batch=3, height=11, width=14, num_maps=case["num_maps"],
        num_edges=len(case["edges"]) if case["edges"] else case["num_maps"])
    heatmaps[0, 3, 4, :] = 1.0
    alone = mass_displacement(heatmaps[2:], offsets_x[2:], offsets_y[2:], combine=combine,
                              kernel=kernel, kernel_size=3, edges=case["edges"],
                              implementation="custom_op").numpy()
    assert alone.tobytes() == whole[0][2:].tobytes()


_PATH_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_custom_op_cpu_paths import CROSS, WIDE, WITHIN_17, _forward_and_gradients
    digests = {{}}
    for combine in ["additive", "noisy_or", "max"]:
        for kernel in ["bilinear", "gaussian"]:
            for name, case in [("within17", WITHIN_17), ("cross", CROSS), ("wide", WIDE)]:
                arrays = _forward_and_gradients(combine, kernel, case)
                digests["/".join([combine, kernel, name])] = [
                    [a.dtype.str, list(a.shape), a.tobytes().hex()] for a in arrays]
    print("DIGESTS " + json.dumps(digests))
""")


def _run_path(simd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if simd:
        env["MDN_TF_CPU_SIMD"] = simd
    else:
        env.pop("MDN_TF_CPU_SIMD", None)
    script = _PATH_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("DIGESTS ")][-1]
    return json.loads(line[len("DIGESTS "):])


def _decode(entry):
    dtype, shape, data = entry
    return np.frombuffer(bytes.fromhex(data), dtype=np.dtype(dtype)).reshape(shape)


def test_avx512_and_portable_paths_give_the_same_bits():
    # On a CPU without AVX-512 both runs take the portable path (still a valid,
    # if weaker, check); CI's machines have AVX-512. One documented exception:
    # the AVX-512 Gaussian backward sums a vote's taps per lane across rows
    # (the portable path, four partial sums per row), so its gradients agree
    # to rounding only; its forward is bit-identical.
    default, portable = _run_path(None), _run_path("sse2")
    assert default.keys() == portable.keys()
    for key in default:
        for which, (got, want) in enumerate(zip(default[key], portable[key])):
            if "/gaussian/" in key and which > 0:
                np.testing.assert_allclose(_decode(got), _decode(want), rtol=1e-5, atol=1e-6,
                                           err_msg=f"{key}: gradient {which}")
                continue
            assert got == want, f"{key}: output {which} differs between the CPU paths"


def test_noisy_or_gradient_with_several_certain_votes_on_one_pixel():
    # Three votes with c = 1 land exactly on pixel (2, 2) of map 0 (two and
    # more zero factors), one on pixel (5, 5): the saved statistics encode
    # those counts in saved_stat and must give pure TF's gradient.
    heatmaps = np.full((1, 8, 8, 1), 0.3)
    offsets_x = np.zeros((1, 8, 8, 1))
    offsets_y = np.zeros((1, 8, 8, 1))
    for (i, j) in [(2, 1), (2, 3), (1, 2)]:
        heatmaps[0, i, j, 0] = 1.0
        offsets_x[0, i, j, 0], offsets_y[0, i, j, 0] = 2 - j, 2 - i
    heatmaps[0, 5, 4, 0] = 1.0
    offsets_x[0, 5, 4, 0] = 1.0
    inputs = [tf.constant(x) for x in (heatmaps, offsets_x, offsets_y)]
    upstream = tf.constant(np.random.default_rng(0).normal(size=heatmaps.shape))
    results = {}
    for implementation in ["tf", "custom_op"]:
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            maps = mass_displacement(*inputs, combine="noisy_or", implementation=implementation)
        results[implementation] = [maps] + tape.gradient(maps, inputs, output_gradients=upstream)
    for got, want in zip(results["custom_op"], results["tf"]):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    assert results["custom_op"][0].numpy()[0, 2, 2, 0] == 1.0


@pytest.mark.parametrize("combine", ["noisy_or", "max"])
def test_graphs_with_and_without_a_gradient_give_the_same_bits(combine):
    # A tf.function that never takes the gradient leaves the saved statistics
    # unconsumed, and the forward kernel then skips writing them; one that
    # takes it keeps them. Both must give the eager maps and gradients.
    eager = _forward_and_gradients(combine, "bilinear", WITHIN_17)
    heatmaps, offsets_x, offsets_y = random_inputs(
        seed=5, batch=3, height=11, width=14, num_maps=17, num_edges=17)
    heatmaps[0, 3, 4, :] = 1.0
    inputs = [tf.constant(x) for x in (heatmaps, offsets_x, offsets_y)]

    def vote(h, x, y):
        return mass_displacement(h, x, y, combine=combine, kernel="bilinear",
                                 implementation="custom_op")

    @tf.function
    def with_gradient(h, x, y, upstream):
        with tf.GradientTape() as tape:
            tape.watch([h, x, y])
            maps = vote(h, x, y)
        return [maps] + tape.gradient(maps, [h, x, y], output_gradients=upstream)

    upstream = tf.constant(np.random.default_rng(5).normal(size=eager[0].shape), tf.float32)
    np.testing.assert_array_equal(tf.function(vote)(*inputs).numpy(), eager[0])
    for got, want in zip(with_gradient(*inputs, upstream), eager):
        np.testing.assert_array_equal(got.numpy(), want)


_NAN_SCRIPT = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    from mdn_tf import mass_displacement
    # Pixel (0, 0) votes onto itself with NaN heat (its taps reach (1, 1));
    # pixel (1, 2) votes onto (1, 1) with c = 1 and tap value exactly 1 (a
    # zero factor). The NaN makes the saved product of (1, 1) NaN, which drops
    # its zero-factor count: every path must still give that tap dm/dv = 0,
    # not P / 0, and the certain vote's other taps see no NaN.
    heat = np.full((1, 4, 4, 1), 0.5, np.float32)
    offsets_x = np.zeros((1, 4, 4, 1), np.float32)
    offsets_y = np.zeros((1, 4, 4, 1), np.float32)
    heat[0, 0, 0, 0] = np.nan
    heat[0, 1, 2, 0] = 1.0
    offsets_x[0, 1, 2, 0] = -1.0
    h, x, y = (tf.constant(a) for a in (heat, offsets_x, offsets_y))
    with tf.GradientTape() as tape:
        tape.watch([h, x, y])
        maps = mass_displacement(h, x, y, combine="noisy_or", implementation="custom_op")
    grads = tape.gradient(maps, [h, x, y], output_gradients=tf.ones_like(maps))
    print("GRADS " + " ".join(g.numpy().tobytes().hex() for g in grads))
    print("CERTAIN " + repr(float(grads[0][0, 1, 2, 0])))
""")


def test_paths_agree_when_a_nan_vote_hides_a_zero_factor():
    outputs = {}
    for simd in (None, "sse2"):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("MDN_TF_CPU_SIMD", None)
        if simd:
            env["MDN_TF_CPU_SIMD"] = simd
        result = subprocess.run([sys.executable, "-c", _NAN_SCRIPT], env=env, capture_output=True,
                                text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        lines = dict(l.split(" ", 1) for l in result.stdout.splitlines()
                     if l.startswith(("GRADS ", "CERTAIN ")))
        outputs[simd] = lines
    # Same values, NaN where the other has NaN (a NaN's sign bit may differ).
    for got, want in zip(outputs[None]["GRADS"].split(), outputs["sse2"]["GRADS"].split()):
        np.testing.assert_array_equal(np.frombuffer(bytes.fromhex(got), np.float32),
                                      np.frombuffer(bytes.fromhex(want), np.float32))
    assert outputs[None]["CERTAIN"] == "0.0"
