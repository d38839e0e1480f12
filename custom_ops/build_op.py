"""Builds the compiled MassDisplacement op against the installed TensorFlow.

Used by setup.py (``pip install .`` / ``pip install -e .``) and runnable by
hand:

    python custom_ops/build_op.py                  # -> mdn_tf/ops/_mass_displacement_ops.so
    MDN_TF_BUILD_CUDA=1 python custom_ops/build_op.py

Compiler and linker flags come from ``tf.sysconfig`` (C++17, the C++11 ABI
flag, Eigen alignment); nothing here hard-codes them. The same sources are
built by ``make -C custom_ops`` and by Bazel (top-level BUILD).

Environment:
    MDN_TF_BUILD_CUDA   "auto" (default), "1" or "0". "auto" builds the CUDA
                        kernels only when nvcc is found, TensorFlow is a CUDA
                        build, and nvcc's CUDA major version equals the one
                        TensorFlow was built with. (Kernels from nvcc 13 ran
                        correctly under TensorFlow's CUDA 12.5 runtime in the
                        standalone harness on an H200, but not yet inside
                        TensorFlow; "1" forces such a build.)
    MDN_TF_CUDA_ARCHS   semicolon-separated SM versions (default "75;80;90";
                        PTX is embedded for the last one).
    NVCC, CXX           compilers (default: nvcc on PATH or /usr/local/cuda,
                        g++).
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
KERNELS = os.path.join(ROOT, "mass_displacement", "cc", "kernels")
OPS = os.path.join(ROOT, "mass_displacement", "cc", "ops")
DEFAULT_OUTPUT = os.path.join(
    os.path.dirname(ROOT), "mdn_tf", "ops", "_mass_displacement_ops.so"
)

CPU_SOURCES = [
    os.path.join(OPS, "mass_displacement_ops.cc"),
    os.path.join(KERNELS, "mass_displacement_kernels.cc"),
]
GPU_HOST_SOURCES = [os.path.join(KERNELS, "mass_displacement_kernels_gpu.cc")]
GPU_DEVICE_SOURCES = [os.path.join(KERNELS, "mass_displacement_kernels_gpu.cu.cc")]

# Prints what we need from tf.sysconfig. Run in a subprocess so that a build
# inside pip's isolated environment can still query the TensorFlow installed
# in the target interpreter (see tf_config).
_QUERY = r"""
import json, tensorflow as tf
info = tf.sysconfig.get_build_info()
print(json.dumps({
    "version": tf.__version__,
    "cflags": tf.sysconfig.get_compile_flags(),
    "lflags": tf.sysconfig.get_link_flags(),
    "include": tf.sysconfig.get_include(),
    "lib": tf.sysconfig.get_lib(),
    "cuda_build": bool(info.get("is_cuda_build", False)),
    "cuda_version": info.get("cuda_version", ""),
}))
"""


class BuildError(RuntimeError):
    """The op could not be built; the message says why."""


def tf_config(python=None):
    """Returns TensorFlow's version, flags and paths as a dict.

    pip builds in an isolated environment whose PYTHONPATH hides the
    site-packages where TensorFlow lives; dropping pip's variables lets the
    same interpreter see the real installation, which is tried first (the
    library must match the TensorFlow it will load into). On a fresh machine
    there is none yet, and the build environment's own TensorFlow (listed in
    pyproject.toml, the same version pip is about to install) is used.
    """
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONNOUSERSITE", "PIP_BUILD_TRACKER"):
        env.pop(var, None)
    attempts = [(python or sys.executable, env), (python or sys.executable, os.environ)]
    errors = []
    for exe, environ in attempts:
        proc = subprocess.run(
            [exe, "-c", _QUERY], capture_output=True, text=True, env=environ, check=False
        )
        if proc.returncode == 0:
            import json

            return json.loads(proc.stdout.strip().splitlines()[-1])
        errors.append(proc.stderr.strip().splitlines()[-1:] or ["?"])
    raise BuildError(f"TensorFlow is not importable ({errors[-1][0]}); install it first")


def find_nvcc():
    nvcc = os.environ.get("NVCC") or shutil.which("nvcc")
    if not nvcc and os.path.exists("/usr/local/cuda/bin/nvcc"):
        nvcc = "/usr/local/cuda/bin/nvcc"
    return nvcc


def nvcc_version(nvcc):
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"release (\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def want_cuda(cfg, log=print):
    """Decides whether to build the CUDA kernels (see MDN_TF_BUILD_CUDA)."""
    mode = os.environ.get("MDN_TF_BUILD_CUDA", "auto").strip().lower()
    if mode in ("0", "off", "false", "no"):
        return False
    nvcc = find_nvcc()
    if mode in ("1", "on", "true", "yes"):
        if not nvcc:
            raise BuildError("MDN_TF_BUILD_CUDA=1 but nvcc was not found (set NVCC)")
        return True
    if not nvcc or not cfg["cuda_build"]:
        log("mdn_tf: building the CPU op only (no nvcc or no CUDA build of TensorFlow)")
        return False
    have = nvcc_version(nvcc)
    tf_major = int(cfg["cuda_version"].split(".")[0]) if cfg["cuda_version"] else None
    if have is None or have[0] != tf_major:
        log(
            f"mdn_tf: building the CPU op only: nvcc is CUDA {have}, TensorFlow was "
            f"built with CUDA {cfg['cuda_version']}; set MDN_TF_BUILD_CUDA=1 to force"
        )
        return False
    return True


def cuda_arch_flags():
    archs = [a.strip() for a in os.environ.get("MDN_TF_CUDA_ARCHS", "75;80;90").split(";")]
    archs = [a for a in archs if a]
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    flags.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
    return flags


def _stamp_flags(cfg, cuda):
    # Stamped into the library so the loader can refuse a build made for
    # another TensorFlow version without loading it.
    return [f'-DMDN_TF_BUILT_AGAINST="{cfg["version"]}"', f"-DMDN_TF_WITH_CUDA={int(cuda)}"]


def compile_commands(cfg, output, cuda, objdir):
    """Returns (compile commands, link command)."""
    cxx = os.environ.get("CXX", "g++")
    # -ffp-contract=off: no FMA contraction, so the AVX-512 and portable CPU
    # paths (and the GPU, built with --fmad=false) round alike.
    common = cfg["cflags"] + ["-O3", "-fPIC", "-ffp-contract=off", "-Wno-deprecated-declarations"]
    common += ["-I", KERNELS]
    common += _stamp_flags(cfg, cuda)
    cuda_include = os.path.join(cfg["include"], "third_party", "gpus", "cuda", "include")
    commands, objects = [], []
    for src in CPU_SOURCES + (GPU_HOST_SOURCES if cuda else []):
        obj = os.path.join(objdir, os.path.basename(src) + ".o")
        extra = ["-DGOOGLE_CUDA=1", "-I", cuda_include] if cuda else []
        commands.append([cxx, "-c", src, "-o", obj] + common + extra)
        objects.append(obj)
    if cuda:
        nvcc = find_nvcc()
        for src in GPU_DEVICE_SOURCES:
            obj = os.path.join(objdir, os.path.basename(src) + ".o")
            commands.append(
                [nvcc, "-c", src, "-o", obj, "-x", "cu", "-O3", "-DGOOGLE_CUDA=1"]
                + cfg["cflags"]
                + ["-I", KERNELS, "-Xcompiler", "-fPIC", "--expt-relaxed-constexpr"]
                # Plain multiply/add (no FMA contraction) so GPU values match
                # the CPU kernel's rounding as closely as possible.
                + ["--fmad=false", "-Wno-deprecated-gpu-targets"]
                + ["-Xcompiler", "-Wno-deprecated-declarations"]
                + cuda_arch_flags()
            )
            objects.append(obj)
    link = [cxx, "-shared", "-o", output] + objects + cfg["lflags"]
    return commands, link


def build(output=DEFAULT_OUTPUT, cuda=None, jobs=2, log=print):
    """Compiles and links the op library at `output`; returns its path."""
    cfg = tf_config()
    if cuda is None:
        cuda = want_cuda(cfg, log)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mdn_tf_build_") as objdir:
        commands, link = compile_commands(cfg, output, cuda, objdir)
        log(f"mdn_tf: compiling the MassDisplacement op for TensorFlow {cfg['version']}"
            f" ({'CPU + CUDA' if cuda else 'CPU'})")

        def run(cmd):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}")

        with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
            list(pool.map(run, commands))
        tmp_out = output + ".tmp"
        link[link.index(output)] = tmp_out
        run(link)
        # Atomic replace: a process that has the old library mapped keeps it.
        os.replace(tmp_out, output)
    log(f"mdn_tf: built {output}")
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--cuda", choices=["auto", "on", "off"], default=None,
                        help="overrides MDN_TF_BUILD_CUDA")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--print-make-vars", action="store_true",
                        help="print TensorFlow's flags as Makefile variables and exit")
    args = parser.parse_args(argv)
    if args.print_make_vars:
        cfg = tf_config()
        print(f"TF_CFLAGS := {' '.join(cfg['cflags'])}")
        print(f"TF_LFLAGS := {' '.join(cfg['lflags'])}")
        print(f"TF_INCLUDE := {cfg['include']}")
        print(f"TF_VERSION := {cfg['version']}")
        return 0
    if args.cuda:
        os.environ["MDN_TF_BUILD_CUDA"] = {"auto": "auto", "on": "1", "off": "0"}[args.cuda]
    try:
        build(args.output, jobs=args.jobs)
    except BuildError as err:
        print(f"mdn_tf: build failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
