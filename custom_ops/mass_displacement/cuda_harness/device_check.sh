#!/bin/bash
# All GPU checks of the CUDA kernels in one run, without TensorFlow:
#   0. host emulation of the noisy-OR fixed-point arithmetic (g++, no GPU);
#   1. the harness (nvcc, sm_$arch, --fmad=false): agreement with the CPU loops
#      on every combine x kernel x edges x votes x size x strategy x dtype,
#      run-to-run determinism of every output, benchmark-size agreement and
#      timings of the kernels (both scatter strategies)
#      for every combine x (bilinear, Gaussian kf=5, 13) x (random,
#      converged), and a dump of the benchmark inputs;
#   2. the torch peer (benchmarks/gpu/torch_splat_peer.py) on the dumped
#      votes, merged with the harness's timings into one markdown table;
#   3. compute-sanitizer memcheck and racecheck on the small cases
#      (--quick), skipped with a warning when compute-sanitizer is missing or
#      cannot run here;
#   4. optional: the harness object linked against a CUDA 12 runtime
#      (TensorFlow 2.21 loads CUDA 12.5), when MDN_CUDART12_DIR names a folder
#      with libcudart.so.12.
#
#   bash custom_ops/mass_displacement/cuda_harness/device_check.sh [OUT_DIR]
#
# Writes to OUT_DIR (default: $OUT, else the current directory) five files:
# device_check.log (everything, in order), harness.log, torch_peer.log,
# sanitizer.log and peer_table.md. Exit status: non-zero when any agreement or
# determinism check, the emulation or the memcheck fails (a torch failure or
# an unusable compute-sanitizer is reported, not failed). About 2-3 minutes on
# an H200.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
kernels="$here/../cc/kernels"
out="${1:-${OUT:-.}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
arch="${MDN_TF_CUDA_ARCH:-90}"
python="${PYTHON:-python3}"
log="$out/device_check.log"
: > "$log"
say() { echo "$@" | tee -a "$log"; }
run_logged() {  # run_logged FILE cmd...: output to FILE and the combined log
  local file="$1"; shift
  "$@" > "$file" 2>&1
  local rc=$?
  cat "$file" >> "$log"
  return $rc
}
start=$SECONDS
status=0

say "=== device_check.sh $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null) ==="
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$log"
nvcc --version | tail -2 | tee -a "$log"

# 0. runs on the CPU while nvcc builds the harness.
( g++ -O2 -std=c++17 -ffp-contract=off -I "$kernels" "$here/host_emulation.cc" -o "$work/emu" \
    > "$work/emu.txt" 2>&1 && "$work/emu" >> "$work/emu.txt" 2>&1; echo $? > "$work/emu.rc" ) &
emu_pid=$!

say "=== 1. harness build (sm_$arch) ==="
flags=(-O3 -std=c++17 --fmad=false -Xcompiler -ffp-contract=off -Wno-deprecated-gpu-targets
       -diag-suppress 128 "-gencode=arch=compute_$arch,code=sm_$arch" -I "$kernels" -I "$here")
if ! nvcc "${flags[@]}" -c "$here/harness.cu" -o "$work/harness.o" >> "$log" 2>&1 ||
   ! nvcc "${flags[@]}" "$work/harness.o" -o "$work/harness" >> "$log" 2>&1; then
  say "HARNESS BUILD FAILED"; cp "$log" "$out/harness.log"; exit 1
fi
say "built in $((SECONDS - start)) s"
wait "$emu_pid"
say "=== 0. host emulation of the noisy-OR fixed point (g++) ==="
grep -v '^PASS' "$work/emu.txt" | tail -20 | tee -a "$log"
[ "$(cat "$work/emu.rc" 2>/dev/null)" = 0 ] || { say "EMULATION FAILED"; grep FAIL "$work/emu.txt" >> "$log"; status=1; }

say "=== 1. harness: agreement, determinism, benchmark agreement, timings, dump ==="
run_logged "$out/harness.log" "$work/harness" --dump "$work/dump"
rc=$?
say "harness exit status $rc; $(grep -c '^PASS' "$out/harness.log") PASS, $(grep -c '^FAIL' "$out/harness.log") FAIL lines"
grep '^FAIL' "$out/harness.log" | head -20 | sed 's/^/  /'
[ $rc -eq 0 ] || status=1
say "--- determinism (DIFF = not bit-identical over two runs) ---"
say "small cases with a DIFF: $(grep -c 'DIFF' "$out/harness.log")  of $(grep -c 'DET' "$out/harness.log") (additive forward may differ; '(unexpected)' fails)"
grep 'BENCH' "$out/harness.log"
say "--- timings ---"
grep '^TIME' "$out/harness.log"
say "elapsed $((SECONDS - start)) s"

say "=== 2. torch peer on the same votes ==="
if [ -d "$work/dump/random" ]; then
  run_logged "$out/torch_peer.log" timeout 240 "$python" "$root/benchmarks/gpu/torch_splat_peer.py" \
      --dump "$work/dump" --harness-log "$out/harness.log" --table "$out/peer_table.md"
  rc=$?
  if [ $rc -ne 0 ]; then
    say "TORCH PEER FAILED (rc=$rc), not counted as a kernel failure; tail:"
    tail -5 "$out/torch_peer.log" | tee -a "$log"
  else
    cat "$out/peer_table.md"
  fi
else
  say "no dump: torch peer skipped"
fi
say "elapsed $((SECONDS - start)) s"

say "=== 3. compute-sanitizer (small cases, --quick) ==="
: > "$out/sanitizer.log"
if command -v compute-sanitizer > /dev/null 2>&1; then
  for tool in memcheck racecheck; do
    limit=$([ "$tool" = memcheck ] && echo 80 || echo 50)
    echo "--- $tool ---" >> "$out/sanitizer.log"
    timeout "$limit" compute-sanitizer --tool "$tool" --error-exitcode 99 "$work/harness" --quick \
        > "$work/$tool.txt" 2>&1
    rc=$?
    grep -v '^PASS' "$work/$tool.txt" | tail -40 >> "$out/sanitizer.log"
    summary="$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$work/$tool.txt" | tail -1)"
    if [ $rc -eq 0 ]; then
      say "$tool: clean ($summary; $(grep -c '^PASS' "$work/$tool.txt") cases passed)"
    elif [ $rc -eq 99 ] || [ $rc -eq 1 ]; then
      say "$tool: ERRORS (rc=$rc): $summary"; status=1
    elif [ $rc -eq 124 ]; then
      say "$tool: timed out after $limit s (not counted); $(grep -c '^PASS' "$work/$tool.txt") cases passed before"
    else
      say "$tool: could not run here (rc=$rc, not counted): $(tail -2 "$work/$tool.txt" | tr '\n' ' ')"
    fi
  done
else
  say "compute-sanitizer not found: skipped" | tee -a "$out/sanitizer.log"
fi
cat "$out/sanitizer.log" >> "$log"
say "elapsed $((SECONDS - start)) s"

if [ -n "${MDN_CUDART12_DIR:-}" ]; then
  say "=== 4. same object, linked against $MDN_CUDART12_DIR/libcudart.so.12 ==="
  if g++ "$work/harness.o" -o "$work/harness_rt12" -L"$MDN_CUDART12_DIR" -l:libcudart.so.12 \
      -Wl,-rpath,"$MDN_CUDART12_DIR" -lpthread -ldl -lrt >> "$log" 2>&1; then
    "$work/harness_rt12" --no-timing > "$work/rt12.txt" 2>&1
    rc=$?
    tail -2 "$work/rt12.txt" | tee -a "$log"
    [ $rc -eq 0 ] || status=1
  else
    say "link against libcudart.so.12 failed"; status=1
  fi
fi

say "=== done in $((SECONDS - start)) s, exit status $status ==="
exit "$status"
