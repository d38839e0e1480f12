#!/usr/bin/env bash
# Builds the compiled MassDisplacement op with Bazel, offline, and installs it
# next to mdn_tf/ops/custom_op.py:
#
#   bash custom_ops/bazel/build.sh            # configure + build + install
#   bash custom_ops/bazel/build.sh --no-install
#
# Needs Bazel >= 4 (Debian: apt-get install bazel-bootstrap) and the
# TensorFlow the library is for (the configure step queries it).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"

"$PYTHON" custom_ops/bazel/configure.py
# --noshow_progress/--ui_event_filters keep CI logs short.
bazel build --noshow_progress --ui_event_filters=-info,-debug //:_mass_displacement_ops.so
if [ "${1:-}" != "--no-install" ]; then
  install -m 0755 bazel-bin/_mass_displacement_ops.so mdn_tf/ops/_mass_displacement_ops.so
  echo "installed mdn_tf/ops/_mass_displacement_ops.so (Bazel build)"
fi
