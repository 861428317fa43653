#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked a bundle with
# the examples (TESSERA_PACK_DIR=.device-examples scripts/device-pack.sh with
# TESSERA_PACK_TARGETS="layer_norm gemm_bias_gelu dropout_residual"; tessera-tune
# too where the bundle has room):
# each example's float64 checks, then compute-sanitizer on its small shapes,
# then its timings beside PyTorch's (bench_general.py norms and epilogue,
# examples/dropout_residual/peer.py), then tessera-tune --load on each
# kernel library and the example again, which takes the winner.
#   device run (carry .device-examples):
#     TESSERA_BUNDLE_DIR=.device-examples scripts/device-run.sh scripts/device-examples.sh
set -uo pipefail
cd "$(dirname "$0")/.."
bin=/tmp/tessera-run/tessera/bin lib=/tmp/tessera-run/tessera/lib
export PYTHONUNBUFFERED=1
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
status=0
run() { echo "== $*"; "$@" || status=1; }
for ex in layer_norm gemm_bias_gelu dropout_residual; do
  [ -x "$bin/$ex" ] || { echo "bundle has no $ex: skipped"; continue; }
  run "$bin/$ex"
  for tool in memcheck racecheck; do
    run "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 10 "$bin/$ex" --small
  done
done
peers=$(ls .device*/bench_general.py 2>/dev/null | head -1)
[ -n "$peers" ] && run python3 "$peers" norms epilogue
run python3 examples/dropout_residual/peer.py
for ex in layer_norm gemm_bias_gelu dropout_residual; do
  [ -x "$bin/$ex" ] && run "$bin/$ex" --bench
done
# Tune each example's kernels for its benchmark shapes: with tessera-tune
# --load where the bundle has the tool, else on first use (TESSERA_AUTOTUNE=1
# during one --bench run). Then the examples again: they take the winners
# from the tuning database (TESSERA_PRINT_AUTOTUNING says so).
if [ -x "$bin/tessera-tune" ]; then
  echo "== tuning through tessera-tune --load"
  for sizes in 4096,8192 32768,1024; do
    run "$bin/tessera-tune" --load "$lib/liblayer_norm_kernels.so" layer_norm_forward --sizes $sizes --dtype bf16
  done
  [ -x "$bin/gemm_bias_gelu" ] && for n in 4096 8192; do
    run "$bin/tessera-tune" --load "$lib/libgemm_bias_gelu_kernels.so" gemm_bias_gelu --sizes $n,$n,$n --dtype bf16
  done
  [ -x "$bin/dropout_residual" ] && for sizes in 8192,8192 32768,4096; do
    run "$bin/tessera-tune" --load "$lib/libdropout_residual_kernels.so" dropout_residual --sizes $sizes --dtype bf16
  done
else
  echo "== tuning on first use (TESSERA_AUTOTUNE=1)"
  for ex in layer_norm gemm_bias_gelu dropout_residual; do
    [ -x "$bin/$ex" ] && TESSERA_AUTOTUNE=1 TESSERA_PRINT_AUTOTUNING=1 run "$bin/$ex" --bench
  done
fi
echo "== the examples again, on the tuned configurations"
for ex in layer_norm gemm_bias_gelu dropout_residual; do
  [ -x "$bin/$ex" ] && TESSERA_PRINT_AUTOTUNING=1 run "$bin/$ex" --bench
done
exit $status
