#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# the schedule variants that are not yet any heuristic's, each beside the
# configuration the heuristic gives (the first row of each shape) and the
# peers, in one process per kernel:
# - attention forward and backward, bf16, the benchmark shapes: blocks
#   copied by TMA (--forward-configs and --backward-configs flag t, rank-4
#   tensor maps), the forward's also from a producer warpgroup (w), on the
#   heuristic's blocks of each head dim and larger ones, beside cuDNN and
#   FlashAttention-2 (bench_anchors.py);
# - batched_matmul, bf16: TMA copies (rank-3 tensor maps) on the small and
#   large problems' blocks, beside torch.bmm (device-general-peers.py).
# - LLVM without its straight-line strength reduction: the cold compile and
#   the heuristic's attention and matmul kernels (compare with the rows of
#   the same call, and with device-matmul.sh's cuBLAS).
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
# The heuristic's blocks (attention::forwardConfig, sm_90a, bf16), then with
# TMA, and larger key blocks, which TMA leaves spill-free (d 256: 128 x 64 on
# 8 warps, 208 registers with TMA, 238 without).
# o: causal query blocks in index order, against the longest first (the
# default since LONGEST_FIRST; on non-causal shapes they are the same).
# The backward (deterministic split, d) likewise, on the heuristic's blocks
# (attention::backwardConfig: 64 x 64; d 256 on 8 warps), where TMA takes the
# d 128 and 256 dK/dV kernels' spills (76 and 36 bytes) to none.
tessera-bench attention --shapes "$d64" --dtype bf16 --backward \
  --forward-configs "128x128w4s2;128x128w4s2t;128x128w4s2w;64x64w4s2;64x64w4s2t;64x64w4s2w" \
  --backward-configs "64x64w4d;64x64w4dt" || status=1
tessera-bench attention --shapes "$d128" --dtype bf16 --backward \
  --forward-configs "128x64w4s2;128x64w4s2o;128x64w4s2t;128x64w4s2ts;128x64w4s2w;128x128w8s2t;128x128w8s2w" \
  --backward-configs "64x64w4d;64x64w4do;64x64w4dt;64x128w8dt;128x64w8dt" || status=1
tessera-bench attention --shapes "$d256" --dtype bf16 --backward \
  --forward-configs "128x32w8s2;128x32w8s2t;128x64w8s2;128x64w8s2t;128x64w8s2w" \
  --backward-configs "64x64w8d;64x64w8dt;64x32w8dt" || status=1
python3 scripts/device-general-peers.py --json "$json/general-peers.json" || status=1
tessera-bench kernels --dtype bf16 --softmax "" --rms-norm "" --cumsum "" --rms-norm-backward "" \
  --matmul "" --batched-matmul-configs "128x128x64w4s2t;128x256x64w8s4t;128x256x64w8s4" \
  --json "$json/batched-bf16.json" || status=1
# LLVM without its straight-line strength reduction (TESSERA_LLVM_SLSR=0,
# ~11% of a cold attention compile here): the cold compile's split both
# ways, then the kernels it would change, against the runs above.
tessera-bench runtime || status=1
TESSERA_LLVM_SLSR=0 tessera-bench runtime || status=1
TESSERA_LLVM_SLSR=0 tessera-bench attention --shapes "$d64;$d128;$d256" --dtype bf16 --backward ||
  status=1
TESSERA_LLVM_SLSR=0 tessera-bench kernels --dtype bf16 --softmax "" --rms-norm "" --cumsum "" \
  --rms-norm-backward "" --matmul "2048x2048x2048;4096x4096x4096;8192x8192x8192" || status=1
exit $status
