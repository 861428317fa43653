#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle (and
# run every GPU test, with both switches below on): the stagings written
# 2026-12-08 (opt-in until this has run) tested and timed in one call:
# a TMA add's f32 block in 32-byte panels (SWIZZLE_32B,
# TESSERA_NARROW_ADD_PANELS=1), the 16-bit accumulators (dSᵀ, O, dK, dV,
# C) by stmatrix (TESSERA_STMATRIX=1) and the stores of rows no vector fits
# out of staging tiles in shifted 16-byte vectors (TESSERA_SHIFTED_STORES=1:
# attention's O, dK, dV at head dim 111, matmul's C of an odd width, softmax
# and RMSNorm over rows of 4095).
#   1. racecheck and memcheck (side by side, switches on) on the backward's
#      TMA modes (the 64 x 128 producer layouts, atomic dQ by TMA adds among
#      them), the forward's TMA modes (O by stmatrix and a TMA store),
#      matmul's TMA store, forward and backward at d 111 (O, dK, dV in
#      place, an O view), softmax, RMSNorm and its backward on odd rows;
#   2. the issue's ten shapes, forward and backward (the heuristic), and
#      64x128w8tw at five, d 111 beside d 128 at three, softmax and RMSNorm
#      on rows of 4095 beside 4096, switches on then off, twice where time
#      allows; then cuDNN (bench_anchors.py, copied
#      into the bundle's folder from ../shared/anchors);
#   3. Nsight Compute on 64x128w8tw's dK/dV program at (4,16,4096,128), on,
#      where time is left (scripts/device-profile.sh): the staging's shared
#      wavefronts.
#   device run: TESSERA_STMATRIX=1 TESSERA_NARROW_ADD_PANELS=1 TESSERA_SHIFTED_STORES=1 \
#     TESSERA_TEST_SHARDS=14 \
#     TESSERA_TEST_TIMEOUT=200 scripts/device-run.sh scripts/device-stagings.sh
# STAGINGS_BUDGET (seconds, 430 by default) bounds this script.
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${STAGINGS_BUDGET:-430}
SECONDS=0
left() { ((SECONDS < budget - $1)); }
status=0
san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
f="*AttentionBackwardTma.*bf16_1x4_2kv_q17_k130_d32_causal_mask"
f+=":*AttentionBackwardTma.*bf16_1x1_1kv_q100_k77_d256_causal_mask"
f+=":*AttentionForwardTma.*bf16_1x4_2kv_q67_k131_d40_mask"
f+=":*AttentionForwardTma.*bf16_1x2_2kv_q129_k129_d128_causal*"
f+=":MatmulTma.StoresCThroughSharedMemory"
f+=":AnyHeadDim/AttentionForward.*/bf16_1x2_2kv_q33_k190_d111*"
f+=":AnyHeadDim/AttentionBackward.*/bf16_1x2_2kv_q33_k190_d111_causal_mask"
f+=":AttentionForwardStrided.IntoAnOutputView"
f+=":Shapes/Softmax.MatchesReference/bf16_17x4099:Shapes/RmsNorm.MatchesReference/bf16_17x4099"
f+=":Shapes/RmsNormBackward.MatchesReference/bf16_129x4099:Shapes/Softmax.MatchesReference/f32_17x333"
for tool in racecheck memcheck; do
  timeout 150 "$san" --tool $tool --error-exitcode 1 --print-limit 5 tessera-gpu-tests \
    --gtest_brief=1 --gtest_filter="$f" > "/tmp/san.$tool.log" 2>&1 &
done
wait || status=1
for tool in racecheck memcheck; do
  echo "== $tool (${SECONDS}s)"
  grep -E "tests ran|PASSED|FAILED|SUMMARY|Hazard|rror" "/tmp/san.$tool.log" | head -8
done
S="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;4,32,4096,64,0;4,32,4096,64,1"
S+=";4,16,4096,256,0;4,16,4096,256,1;16,16,1024,128,1;8,16,2048,128,1"
T="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;4,32,4096,64,0;4,32,4096,64,1"
U="4,16,4096,111,0;4,16,4096,128,0;16,16,1024,111,1;16,16,1024,128,1;8,16,2048,111,1"
for round in 1 2; do
  for on in 1 0; do
    left 120 || break 2
    echo "== round $round, switches $on (${SECONDS}s)"
    export TESSERA_STMATRIX=$on TESSERA_NARROW_ADD_PANELS=$on TESSERA_SHIFTED_STORES=$on
    tessera-bench attention --shapes "$S" --dtype bf16 --backward --reps 10 2>&1 |
      grep -E "^tessera .* (fwd|bwd) |rror" | cut -c1-100
    tessera-bench attention --shapes "$T" --dtype bf16 --backward --reps 10 \
      --backward-configs "64x128w8tw" 2>&1 | grep -E "config .* bwd |rror" | cut -c1-100
    tessera-bench attention --shapes "$U" --dtype bf16 --backward --reps 10 2>&1 |
      grep -E "^tessera .* (fwd|bwd) |rror" | cut -c1-100
    R="16384x4096;16384x4095"
    tessera-bench kernels --softmax "$R" --rms-norm "$R" --rms-norm-backward "$R" --matmul "" \
      --batched-matmul "" --cumsum "" 2>&1 | grep -E "softmax|rms|rror" | cut -c1-100
  done
done
anchors=${TESSERA_BUNDLE_DIR:-.device}/bench_anchors.py
echo "== cuDNN (${SECONDS}s)"
[ -f "$anchors" ] && left 60 && python3 "$anchors" torch --shapes "$S" 2>&1 | grep -E "cudnn" |
  cut -c1-110
export TESSERA_STMATRIX=1 TESSERA_NARROW_ADD_PANELS=1 TESSERA_SHIFTED_STORES=1
if left 100; then
  echo "== profile (${SECONDS}s)"
  TESSERA_PROFILE_TIMEOUT=$((budget - SECONDS - 20)) scripts/device-profile.sh tw-d128 \
    attention_backward_dkdv 2 tessera-bench attention --shapes 4,16,4096,128,0 --dtype bf16 \
    --backward --reps 1 --backward-configs 64x128w8tw
  grep -iE "wavefront|bank|l1tex__data_bank|Excess" "${OUT:-/tmp/tessera-out}/tw-d128.txt" | head -8
fi
echo "total ${SECONDS}s"
exit $status
