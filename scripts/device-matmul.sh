#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# cuBLAS (bench_general.py gemm) and Tessera's matmul at 2048³, 4096³ and
# 8192³, bf16 and f16, in one process each: the heuristic's configuration,
# then the listed variants (tessera-bench --matmul-configs: t TMA copies,
# c two-CTA clusters multicasting B, s C stored by TMA, p persistent
# programs).
#   device run: scripts/device-run.sh scripts/device-matmul.sh
set -uo pipefail
here=$(dirname "$0")/..
peers=$(ls "$here"/.device*/bench_general.py 2>/dev/null | head -1)
[ -n "$peers" ] && python3 "$peers" gemm
configs="${TESSERA_MATMUL_CONFIGS:-128x256x64w8s4t;128x256x64w8s4tc;128x256x64w8s4ts;128x256x64w8s4tcs;256x128x64w8s4t;128x128x64w4s2t;128x128x64w4s2ts;128x128x64w4s2tc;128x128x64w4s3tc;128x128x64w4s4tc}"
for dtype in bf16 f16; do
  tessera-bench kernels --dtype "$dtype" --softmax "" --rms-norm "" --cumsum "" \
    --rms-norm-backward "" --batched-matmul "" --matmul-configs "$configs" \
    ${OUT:+--json "$OUT/matmul-$dtype.json"}
done
