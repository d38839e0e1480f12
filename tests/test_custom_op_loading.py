"""Loading the compiled library, falling back, and choosing it (or not) under XLA.

Loader states are per process, so those tests run small scripts in fresh
interpreters; the XLA dispatch tests run here.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import keras

from mdn_tf import MassDisplacement, mass_displacement
from mdn_tf.ops import custom_op

ROOT = pathlib.Path(__file__).resolve().parents[1]
needs_library = pytest.mark.skipif(
    not custom_op.is_available(),
    reason=f"compiled op unavailable: {custom_op.unavailable_reason()}",
)

# Counts tf.load_op_library calls and RuntimeWarnings, then runs BODY.
_PRELUDE = """
import warnings
warnings.simplefilter("always")
import numpy as np
import tensorflow as tf
loads = []
_real_load = tf.load_op_library
def _counting_load(path):
    loads.append(path)
    return _real_load(path)
tf.load_op_library = _counting_load
import mdn_tf
from mdn_tf.ops import custom_op
inputs = [np.random.default_rng(0).uniform(size=(1, 5, 6, 2)).astype("float32") for _ in range(3)]
"""


def _run(body, **env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MDN_TF_PURE_TF", "MDN_TF_CUSTOM_OP_LIB")}
    environment.update(env, PYTHONPATH=f"{ROOT}{os.pathsep}{environment.get('PYTHONPATH', '')}",
                       TF_CPP_MIN_LOG_LEVEL="3")
    script = _PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=environment, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@needs_library
def test_library_loads_lazily_on_first_use_not_at_import():
    out = _run("""
        layer = mdn_tf.MassDisplacement(combine="additive")
        assert loads == [], loads
        with warnings.catch_warnings(record=True) as caught:
            layer(*inputs)
            mdn_tf.mass_displacement(*inputs)
        assert len(loads) == 1, loads
        assert custom_op.is_available() and not caught, [str(w.message) for w in caught]
        print("ok")
    """)
    assert out.strip() == "ok"


def test_pure_tf_env_var_forces_the_fallback_without_a_warning():
    out = _run("""
        with warnings.catch_warnings(record=True) as caught:
            maps = mdn_tf.mass_displacement(*inputs)
        assert not caught and loads == [], ([str(w.message) for w in caught], loads)
        assert not custom_op.is_available()
        assert "MDN_TF_PURE_TF" in custom_op.unavailable_reason()
        try:
            mdn_tf.mass_displacement(*inputs, implementation="custom_op")
        except RuntimeError as err:
            assert "MDN_TF_PURE_TF" in str(err), err
        else:
            raise AssertionError("custom_op should raise")
        print("ok")
    """, MDN_TF_PURE_TF="1")
    assert out.strip() == "ok"


def test_missing_library_warns_once_with_the_rebuild_command_and_falls_back():
    out = _run("""
        with warnings.catch_warnings(record=True) as caught:
            first = mdn_tf.mass_displacement(*inputs).numpy()
            again = mdn_tf.mass_displacement(*inputs).numpy()
        messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
        assert len(messages) == 1, messages
        assert "is not built" in messages[0] and "pip install --no-build-isolation -e ." in messages[0]
        pure = mdn_tf.mass_displacement(*inputs, implementation="tf").numpy()
        assert np.array_equal(first, pure) and np.array_equal(again, pure)
        print("ok")
    """, MDN_TF_CUSTOM_OP_LIB="/nonexistent/_mass_displacement_ops.so")
    assert out.strip() == "ok"


@needs_library
def test_library_built_for_another_tensorflow_is_refused_without_loading(tmp_path):
    stale = tmp_path / "_mass_displacement_ops.so"
    data = pathlib.Path(custom_op.library_path()).read_bytes()
    stamp = f"tensorflow={tf.__version__};".encode()
    assert stamp in data
    other = b"tensorflow=" + b"9" * (len(stamp) - len(b"tensorflow=;")) + b";"
    stale.write_bytes(data.replace(stamp, other))
    out = _run("""
        with warnings.catch_warnings(record=True) as caught:
            mdn_tf.mass_displacement(*inputs)
        assert loads == [], loads
        reason = custom_op.unavailable_reason()
        assert "was built for TensorFlow 999" in reason, reason
        assert any("was built for TensorFlow" in str(w.message) for w in caught)
        print("ok")
    """, MDN_TF_CUSTOM_OP_LIB=str(stale))
    assert out.strip() == "ok"


def test_library_that_fails_to_load_is_reported(tmp_path):
    broken = tmp_path / "_mass_displacement_ops.so"
    broken.write_bytes(b"not an ELF file; mdn_tf-build-stamp:tensorflow="
                       + tf.__version__.encode() + b";cuda=0;")
    out = _run("""
        with warnings.catch_warnings(record=True) as caught:
            mdn_tf.mass_displacement(*inputs)
        reason = custom_op.unavailable_reason()
        assert "failed to load" in reason, reason
        print("ok")
    """, MDN_TF_CUSTOM_OP_LIB=str(broken))
    assert out.strip() == "ok"


# --- choosing the implementation under XLA ------------------------------------------

def _inputs():
    rng = np.random.default_rng(1)
    return [tf.constant(rng.uniform(size=(2, 6, 7, 3)), tf.float32) for _ in range(3)]


def _op_types(function, *args):
    graph = function.get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}


def test_in_xla_context_is_true_only_while_tracing_for_xla():
    seen = {}

    def probe(tag):
        seen[tag] = custom_op.in_xla_context()

    probe("eager")
    tf.function(lambda: probe("plain"))()
    tf.function(lambda: probe("jit"), jit_compile=True)()
    inner = tf.function(lambda: probe("inside_jit"))
    tf.function(lambda: inner(), jit_compile=True)()
    assert seen == {"eager": False, "plain": False, "jit": True, "inside_jit": True}


@needs_library
def test_auto_uses_the_compiled_op_in_tf_function_and_pure_tf_under_xla():
    inputs = _inputs()
    plain = tf.function(lambda *x: mass_displacement(*x))
    jit = tf.function(lambda *x: mass_displacement(*x), jit_compile=True)
    assert "Mdn>MassDisplacement" in _op_types(plain, *inputs)
    assert "Mdn>MassDisplacement" not in _op_types(jit, *inputs)
    np.testing.assert_allclose(jit(*inputs).numpy(), plain(*inputs).numpy(), atol=1e-5)


@needs_library
def test_custom_op_under_xla_raises_a_clear_error():
    jit = tf.function(lambda *x: mass_displacement(*x, implementation="custom_op"),
                      jit_compile=True)
    with pytest.raises(RuntimeError, match="XLA"):
        jit(*_inputs())


@needs_library
@pytest.mark.parametrize("jit_compile", [False, True])
def test_keras_training_step_works_with_auto_with_and_without_xla(jit_compile):
    heatmaps = keras.Input((6, 7, 2))
    features = keras.layers.Conv2D(6, 3, padding="same")(heatmaps)
    offsets_x, offsets_y = features[..., :2], features[..., 2:4]
    maps = MassDisplacement(combine="additive")(heatmaps, offsets_x, offsets_y)
    model = keras.Model(heatmaps, maps)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 6, 7, 2)).astype("float32")
    history = model.fit(x, x, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
