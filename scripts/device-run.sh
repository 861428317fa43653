#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, with .device carried:
# unpacks the bundle and runs the GPU tests, then anything passed as
# arguments (e.g. benchmarks), logging everything under $OUT.
#   device run: scripts/device-run.sh [extra command ...]
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/tessera-out}"
mkdir -p "$out" /tmp/tessera-run
# The bundle of TESSERA_BUNDLE_DIR (.device by default; .device-examples for
# the examples' call). Named, not found: a warm machine keeps the folders
# that earlier calls carried.
bundle="${TESSERA_BUNDLE_DIR:-.device}/tessera-bundle.tar.xz"
tar -C /tmp/tessera-run -xJf "$bundle" || { echo "no $bundle: run scripts/device-pack.sh first" >&2; exit 1; }
bin=/tmp/tessera-run/tessera/bin
export PATH="$bin:$PATH"
# nvJitLink and NVRTC come from the machine's CUDA toolkit.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
# Warp-specialized kernels are assembled by the ptxas executable (linkPTX):
# the toolkit's, else the one Triton ships.
if [ -z "${TESSERA_PTXAS:-}" ] && ! command -v ptxas > /dev/null && [ ! -x /usr/local/cuda/bin/ptxas ]; then
  triton_ptxas=$(python3 -c 'import os, triton; print(os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/ptxas"))' 2> /dev/null)
  [ -x "$triton_ptxas" ] && export TESSERA_PTXAS="$triton_ptxas"
fi
echo "ptxas: ${TESSERA_PTXAS:-$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2> /dev/null || echo none)}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$out/gpu.txt"
echo "bundle revision: $(cat /tmp/tessera-run/tessera/REVISION 2>/dev/null)"
# Caches and tuning databases of this run stay on the scratch disk.
export TESSERA_CACHE_DIR=/tmp/tessera-cache
status=0
# A bundle narrowed with TESSERA_PACK_TARGETS may lack the tests or the demo.
# TESSERA_TEST_SHARDS=N runs the tests as N processes at once (the JIT and
# the float64 references are CPU work; the machine has the cores).
shards="${TESSERA_TEST_SHARDS:-1}"
# A kernel that hangs (a barrier that never completes) must not take the
# whole call: each shard gets TESSERA_TEST_TIMEOUT seconds (300 by default).
limit="${TESSERA_TEST_TIMEOUT:-300}"
if [ -x "$bin/tessera-gpu-tests" ]; then
  pids=()
  for ((i = 0; i < shards; ++i)); do
    GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i timeout "$limit" \
      "$bin/tessera-gpu-tests" --gtest_brief=1 > "/tmp/gpu-tests.$i.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 0; i < shards; ++i)); do
    wait "${pids[$i]}"
    rc=$?
    ((rc == 124)) && echo "gpu tests shard $i: timed out after ${limit} s (a hang?)" |
      tee -a "/tmp/gpu-tests.$i.log"
    ((rc)) && status=1
    cat "/tmp/gpu-tests.$i.log" >> "$out/gpu-tests.log"
  done
  grep -E "FAILED|tests ran|PASSED" "$out/gpu-tests.log" | tail -40
else
  echo "bundle has no tessera-gpu-tests: skipped"
fi
if [ -x "$bin/tessera-demo" ]; then
  "$bin/tessera-demo" 2>&1 | tee "$out/demo.log"
  ((${PIPESTATUS[0]})) && status=1
else
  echo "bundle has no tessera-demo: skipped"
fi
if (($#)); then
  "$@" 2>&1 | tee "$out/extra.log"
  ((${PIPESTATUS[0]})) && status=1
fi
# The device tool brings back at most 8 files of $OUT and drops the rest:
# past 8, they all travel in one tar (tar -xf logs.tar here).
files=("$out"/*)
if ((${#files[@]} > 8)); then
  (cd "$out" && tar -cf /tmp/tessera-logs.tar -- * && rm -rf -- ./* && mv /tmp/tessera-logs.tar logs.tar)
  echo "more than 8 files in \$OUT: packed into logs.tar"
fi
exit $status
