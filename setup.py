"""Installs mdn_tf.

    pip install -e ".[test]"

Also compiles the MassDisplacement op against the installed TensorFlow (see
docs/custom_op.md). When TensorFlow is not installed yet at build time (a
fresh environment), rerun `pip install --no-build-isolation --no-deps -e .`
once it is, or `make -C custom_ops`.
"""

import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildMassDisplacementOp(build_ext):
    """Builds mdn_tf/ops/_mass_displacement_ops.so with custom_ops/build_op.py.

    MDN_TF_BUILD_OP: "auto" (default: build, and on failure warn and install
    the pure-TensorFlow path only), "1" (a failed build fails the install),
    "0" (skip). MDN_TF_BUILD_CUDA switches the CUDA kernels (build_op.py).
    """

    def get_ext_filename(self, ext_name):
        # One fixed name, no Python ABI tag: the library depends on the
        # TensorFlow version (stamped inside it), not on the CPython ABI.
        return os.path.join(*ext_name.split(".")) + ".so"

    def build_extension(self, ext):
        mode = os.environ.get("MDN_TF_BUILD_OP", "auto").strip().lower()
        if mode in ("0", "off", "false", "no"):
            print("mdn_tf: MDN_TF_BUILD_OP=0, not building the compiled op")
            return
        sys.path.insert(0, os.path.join(HERE, "custom_ops"))
        import build_op

        try:
            build_op.build(self.get_ext_fullpath(ext.name), log=print)
        except build_op.BuildError as err:
            if mode in ("1", "on", "true", "yes"):
                raise
            self.warn(
                f"mdn_tf: the compiled MassDisplacement op was not built ({err}); the "
                "pure-TensorFlow path will be used. Rebuild later with "
                "`pip install --no-build-isolation --no-deps -e .` or `make -C custom_ops`."
            )


setup(
    name="mdn_tf",
    version="0.1.0",
    description="Mass Displacement Networks (Neverova & Kokkinos, BMVC 2018) for TensorFlow/Keras",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["mdn_tf", "mdn_tf.*"]),
    # Compiled by BuildMassDisplacementOp, not by setuptools' own compiler call.
    # optional: a skipped or failed build leaves no file, and setuptools then
    # copies nothing into the source tree (`pip install -e .` with MDN_TF_BUILD_OP=0
    # used to fail with "can't copy ...: doesn't exist").
    ext_modules=[
        Extension(
            "mdn_tf.ops._mass_displacement_ops",
            sources=[
                "custom_ops/mass_displacement/cc/ops/mass_displacement_ops.cc",
                "custom_ops/mass_displacement/cc/kernels/mass_displacement_kernels.cc",
            ],
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildMassDisplacementOp},
    entry_points={"console_scripts": ["mdn-tf = mdn_tf.cli.main:main"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.10,<4",
        "numpy>=1.26",
        "scipy>=1.11",
        "pycocotools>=2.0.7",
        "matplotlib>=3.8",
        "tensorboard>=2.21,<2.22",  # TF 2.21 no longer pulls it in; training logs need it
    ],
    extras_require={
        # jax (CPU wheels) for the Keras-backend tests; PyTorch is installed by
        # .ci/run itself (torch==2.13.0, a CPU build on the CI machines).
        "test": ["pytest>=8", "jax>=0.10"],
        "dev": ["pytest>=8", "pytest-xdist>=3"],
        # `mdn-tf export --format litert|onnx|openvino` and their runtimes
        # (TensorFlow's own TFLite converter writes LiteRT).
        "deploy": ["ai-edge-litert>=2.1", "onnxruntime>=1.20", "tf2onnx>=1.16", "onnx>=1.16",
                   "openvino>=2025.0"],
        # `mdn-tf export --format torch` (a torch.export program) and its runtime.
        # Apart from deploy: a bare torch requirement pulls a CUDA build of several
        # GB from PyPI; README gives the CPU-build command.
        "torch": ["torch>=2.6"],
    },
)
