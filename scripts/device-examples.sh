#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked a bundle with
# the examples (TESSERA_PACK_DIR=.device-examples scripts/device-pack.sh with
# TESSERA_PACK_TARGETS="layer_norm gemm_bias_gelu dropout_residual tessera-tune"):
# each example's float64 checks, then compute-sanitizer on its small shapes,
# then its timings beside PyTorch's (bench_general.py norms and epilogue,
# examples/dropout_residual/peer.py), then tessera-tune --load on each
# kernel library and the example again, which takes the winner.
#   device run: scripts/device-run.sh scripts/device-examples.sh
set -uo pipefail
cd "$(dirname "$0")/.."
bin=/tmp/tessera-run/tessera/bin lib=/tmp/tessera-run/tessera/lib
export PYTHONUNBUFFERED=1
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
status=0
run() { echo "== $*"; "$@" || status=1; }
for ex in layer_norm gemm_bias_gelu dropout_residual; do
  [ -x "$bin/$ex" ] || { echo "bundle has no $ex"; status=1; continue; }
  run "$bin/$ex"
  for tool in memcheck racecheck; do
    run "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 10 "$bin/$ex" --small
  done
done
peers=$(ls .device*/bench_general.py 2>/dev/null | head -1)
[ -n "$peers" ] && run python3 "$peers" norms epilogue
run python3 examples/dropout_residual/peer.py
for ex in layer_norm gemm_bias_gelu dropout_residual; do
  run "$bin/$ex" --bench
done
echo "== tuning through --load; the examples' next runs take the winners"
run "$bin/tessera-tune" --load "$lib/liblayer_norm_kernels.so" layer_norm_forward --sizes 4096,8192 --dtype bf16
run "$bin/tessera-tune" --load "$lib/liblayer_norm_kernels.so" layer_norm_forward --sizes 32768,1024 --dtype bf16
run "$bin/tessera-tune" --load "$lib/libgemm_bias_gelu_kernels.so" gemm_bias_gelu --sizes 8192,8192,8192 --dtype bf16
run "$bin/tessera-tune" --load "$lib/libdropout_residual_kernels.so" dropout_residual --sizes 8192,8192 --dtype bf16
for ex in layer_norm gemm_bias_gelu dropout_residual; do
  TESSERA_PRINT_AUTOTUNING=1 run "$bin/$ex" --bench
done
exit $status
