#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle (and
# run every GPU test with the defaults): tile-use-tma's row vectors (the
# attention backward's rows of L and D by TMA with Q and dO,
# TESSERA_STAGE_ROW_VECTORS=1; docs/COMPILER.md §3) tested and timed in one
# call (docs/PERFORMANCE.md "L and D by TMA" has its results):
#   1. the backward GPU tests with the switch (14 processes);
#   2. racecheck and memcheck with it on the backward's TMA modes at q 17
#      d 32 (all nine, the 64 x 128 producer layouts among them; rows padded
#      to 16 bytes) and q 100 d 256, memcheck also at q 1000 d 64;
#   3. the issue's ten shapes (heuristic backward) and 64x128w8tw at five,
#      staged / global alternating, twice; then cuDNN (bench_anchors.py, copied
#      into the bundle's folder from ../shared/anchors).
#   device run: TESSERA_TEST_SHARDS=14 TESSERA_TEST_TIMEOUT=200 \
#     scripts/device-run.sh scripts/device-row-vectors.sh
# ROWS_BUDGET (seconds, 430 by default) bounds what follows the tests.
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${ROWS_BUDGET:-430}
SECONDS=0
left() { ((SECONDS < budget - $1)); }
status=0
echo "== backward GPU tests, TESSERA_STAGE_ROW_VECTORS=1"
pids=()
for ((i = 0; i < 14; ++i)); do
  TESSERA_STAGE_ROW_VECTORS=1 GTEST_TOTAL_SHARDS=14 GTEST_SHARD_INDEX=$i timeout 200 \
    tessera-gpu-tests --gtest_brief=1 --gtest_filter='*AttentionBackward*' > "/tmp/rows.$i.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
cat /tmp/rows.*.log | grep -E "FAILED|Failure|PASSED|tests ran" | sort | uniq -c | head -30
san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
f="*AttentionBackwardTma.*bf16_1x4_2kv_q17_k130_d32_causal_mask"
f+=":*AttentionBackwardTma.*bf16_1x1_1kv_q100_k77_d256_causal_mask"
for tool in racecheck memcheck; do
  # memcheck is quick enough for the nine modes at q 1000 too.
  [ $tool = memcheck ] && f+=":*AttentionBackwardTma.*bf16_1x2_1kv_q1000_k1000_d64_causal_mask"
  echo "== $tool, TESSERA_STAGE_ROW_VECTORS=1 (${SECONDS}s)"
  TESSERA_STAGE_ROW_VECTORS=1 timeout 100 "$san" --tool $tool --print-limit 5 \
    tessera-gpu-tests --gtest_brief=1 --gtest_filter="$f" 2>&1 | tail -3
done
S="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;4,32,4096,64,0;4,32,4096,64,1"
S+=";4,16,4096,256,0;4,16,4096,256,1;16,16,1024,128,1;8,16,2048,128,1"
T="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;4,32,4096,64,0;4,32,4096,64,1"
for rows in 1 0 1 0; do
  left 100 || break
  echo "== TESSERA_STAGE_ROW_VECTORS=$rows (${SECONDS}s)"
  TESSERA_STAGE_ROW_VECTORS=$rows tessera-bench attention --shapes "$S" --dtype bf16 --backward \
    --reps 10 2>&1 | grep -E "^tessera .* bwd |rror" | cut -c1-100
  TESSERA_STAGE_ROW_VECTORS=$rows tessera-bench attention --shapes "$T" --dtype bf16 --backward \
    --reps 10 --backward-configs "64x128w8tw" 2>&1 | grep -E "config .* bwd |rror" | cut -c1-100
done
anchors=${TESSERA_BUNDLE_DIR:-.device}/bench_anchors.py
echo "== cuDNN (${SECONDS}s)"
[ -f "$anchors" ] && left 40 && python3 "$anchors" torch --shapes "$S" 2>&1 | grep -E "cudnn" | cut -c1-110
echo "total ${SECONDS}s"
exit $status
