"""Installs mdn_tf.

    pip install -e ".[test]"
"""

from setuptools import find_packages, setup

setup(
    name="mdn_tf",
    version="0.1.0",
    description="Mass Displacement Networks (Neverova & Kokkinos, BMVC 2018) for TensorFlow/Keras",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["mdn_tf", "mdn_tf.*"]),
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.10,<4",
        "numpy>=1.26",
        "scipy>=1.11",
        "pycocotools>=2.0.7",
        "matplotlib>=3.8",
    ],
    extras_require={
        "test": ["pytest>=8"],
        "dev": ["pytest>=8", "pytest-xdist>=3"],
    },
)
