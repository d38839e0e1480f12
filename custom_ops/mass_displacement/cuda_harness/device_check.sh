#!/bin/bash
# The GPU checks of the CUDA kernels, in one run, without TensorFlow:
#   1. the harness built with the local nvcc (its own CUDA runtime): agreement
#      with the CPU loops on every case, random and converged votes, and
#      timings at the benchmark size for both kinds of votes;
#   2. the same nvcc object linked against a CUDA 12 runtime (TensorFlow 2.21
#      loads CUDA 12.5): do kernels compiled by a newer nvcc run under it?
#   3. compute-sanitizer memcheck of the agreement cases.
#
#   bash custom_ops/mass_displacement/cuda_harness/device_check.sh [CUDART12_LIB_DIR] [OUT_DIR]
#
# CUDART12_LIB_DIR holds libcudart.so.12, e.g. nvidia/cuda_runtime/lib from the
# nvidia-cuda-runtime-cu12==12.5.82 wheel (unzip it anywhere); step 2 is
# skipped without it. Logs go to OUT_DIR (default: the current directory).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
kernels="$here/../cc/kernels"
rt12="${1:-}"
out="${2:-.}"
work="$(mktemp -d)"
arch="${MDN_TF_CUDA_ARCH:-90}"
flags=(-O3 -std=c++17 --fmad=false -Xcompiler -ffp-contract=off -Wno-deprecated-gpu-targets
       -diag-suppress 128 "-gencode=arch=compute_$arch,code=sm_$arch" -I "$kernels")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nvcc --version | tail -2
nvcc "${flags[@]}" -c "$here/harness.cu" -o "$work/harness.o" || exit 1
nvcc "${flags[@]}" "$work/harness.o" -o "$work/harness" || exit 1
echo "=== 1. nvcc $(nvcc --version | grep -o 'release [0-9.]*'), its own runtime ==="
"$work/harness" | tee "$out/harness.txt"
status=${PIPESTATUS[0]}
if [ -n "$rt12" ]; then
  echo "=== 2. same object, linked against $rt12/libcudart.so.12 ==="
  g++ "$work/harness.o" -o "$work/harness_rt12" -L"$rt12" -l:libcudart.so.12 \
      -Wl,-rpath,"$rt12" -lpthread -ldl -lrt || exit 1
  ldd "$work/harness_rt12" | grep cudart
  "$work/harness_rt12" --no-timing | tee "$out/harness_cudart12.txt" | tail -2
  status=$((status | PIPESTATUS[0]))
fi
echo "=== timings: noisy-OR, B=32, J=16, 64x64, float32 (CUDA-event medians) ==="
grep '^TIME' "$out/harness.txt"
echo "=== 3. compute-sanitizer memcheck ==="
compute-sanitizer --tool memcheck "$work/harness" --no-timing > "$out/memcheck.txt" 2>&1
status=$((status | $?))
tail -2 "$out/memcheck.txt"
rm -rf "$work"
exit "$status"
