"""Shared fixtures: the implementation switch and the real-data folder."""

import os
import pathlib
import sys

import pytest

# Test helpers (the NumPy reference) import as plain modules.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

IMPLEMENTATIONS = ("tf", "custom_op")


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request):
    """Runs a test once per implementation; the compiled op only where it loads."""
    if request.param == "custom_op":
        from mdn_tf.ops import custom_op

        if not custom_op.is_available():
            pytest.skip(f"compiled op unavailable: {custom_op.unavailable_reason()}")
    return request.param


@pytest.fixture
def real_data_dir():
    """`../shared/realdata` (or wherever MDN_TF_REAL_DATA points); skips without it."""
    path = os.environ.get("MDN_TF_REAL_DATA")
    if not path or not pathlib.Path(path).is_dir():
        pytest.skip("MDN_TF_REAL_DATA is not set to the real sample data folder")
    return pathlib.Path(path)
