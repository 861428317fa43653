#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# the heuristics' configurations and the schedule variants beside them (the
# first row of each shape is the heuristic's), and the peers, in one process
# per kernel:
# - attention forward and backward, bf16, the benchmark shapes, beside
#   cuDNN and FlashAttention-2 (bench_anchors.py): TMA or cp.async copies
#   (--forward-configs and --backward-configs flag t), a producer warpgroup
#   (w), TMA stores (s), the next block's scores issued before the softmax
#   (p: PIPELINE_QK), larger blocks, the backward on 8 warps;
# - batched_matmul, bf16, beside torch.bmm (device-general-peers.py);
# - matmul's heuristic beside cuBLAS;
# - with TESSERA_VARIANTS_RUNTIME=1, the runtime's costs (cold compile, cache
#   hit, launch), and LLVM with its straight-line strength reduction (off by
#   default).
# matmul's variants are scripts/device-matmul.sh's.
#   device run: scripts/device-run.sh scripts/device-variants.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
status=0
json="${OUT:-/tmp/tessera-out}"
d64="4,32,4096,64,0;4,32,4096,64,1"
d128="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;16,16,1024,128,1"
d256="4,16,4096,256,0;4,16,4096,256,1"
[ -f .device/bench_anchors.py ] &&
  OUT="$json" python3 .device/bench_anchors.py torch --shapes "$d64;$d128;$d256" 2>&1 | grep -v "^ *$"
# The heuristic's configuration first (attention::forwardConfig and
# backwardConfig, sm_90a, bf16), then the variants beside it: t TMA
# copies, w a producer warpgroup, o causal query blocks in index order,
# s TMA stores of O, p the next scores before the softmax, g the consumer
# warpgroups issuing in turns (ping-pong); the backward's
# blocks on 8 warps, whose 64-row dots
# put two warpgroups side by side along the columns (columnBlock), and
# dQ by atomic adds (no d: five products instead of seven).
tessera-bench attention --shapes "$d64" --dtype bf16 --backward \
  --forward-configs "128x128w4s2;128x128w8s2tp;128x128w8s2wp" \
  --backward-configs "64x64w4dt;64x128w8d;64x128w8dt;64x64w4;64x64w8t" || status=1
tessera-bench attention --shapes "$d128" --dtype bf16 --backward \
  --forward-configs "128x64w4s2t;128x128w8s2w;128x64w8s2t;128x64w8s2tp;128x64w8s2wp" \
  --backward-configs "64x64w4d;128x64w8dt;64x128w8dt;64x64w8t;32x64w4t" || status=1
# Ping-pong (g), in a process of its own under a time limit: turns that
# do not balance hang.
timeout 180 tessera-bench attention --shapes "$d128" --dtype bf16 \
  --forward-configs "128x64w8s2wg;128x64w8s2wpg;128x128w8s2wg;128x128w8s2wpg" || status=1
tessera-bench attention --shapes "$d256" --dtype bf16 --backward \
  --forward-configs "128x64w8s2;128x32w8s2;128x64w8s2tp" \
  --backward-configs "64x64w8d" || status=1
python3 scripts/device-general-peers.py --json "$json/general-peers.json" || status=1
tessera-bench kernels --dtype bf16 --softmax "" --rms-norm "" --cumsum "" --rms-norm-backward "" \
  --matmul "" --batched-matmul-configs "128x128x64w4s2;128x256x64w8s4t" \
  --json "$json/batched-bf16.json" || status=1
# matmul's heuristic beside cuBLAS (the variants: scripts/device-matmul.sh).
[ -f .device/bench_general.py ] && python3 .device/bench_general.py gemm
for dtype in bf16 f16; do
  tessera-bench kernels --dtype "$dtype" --softmax "" --rms-norm "" --cumsum "" \
    --rms-norm-backward "" --batched-matmul "" || status=1
done
# TESSERA_VARIANTS_RUNTIME=1: the runtime's costs, and LLVM with its
# straight-line strength reduction (TESSERA_LLVM_SLSR=1, ~11% of a cold
# attention compile, off by default): the cold compile's split both ways,
# then the d 128 kernels with it and without it again (A/B/A: the H100's
# run-to-run spread was 5-7% on identical configurations).
if [ "${TESSERA_VARIANTS_RUNTIME:-0}" = 1 ]; then
  tessera-bench runtime || status=1
  TESSERA_LLVM_SLSR=1 tessera-bench runtime || status=1
  TESSERA_LLVM_SLSR=1 tessera-bench attention --shapes "$d128" --dtype bf16 --backward || status=1
  tessera-bench attention --shapes "$d128" --dtype bf16 --backward || status=1
fi
exit $status
