#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# the head dims the issue names (40, 59, 80, 111, 160, 224) and 56 and 88
# (rows of 16-byte but not 32-byte runs) beside the next power of two,
# forward and backward, bf16, at (4, 16, 4096) and at (16, 16, 1024)
# causal; the ratios (scripts/head-dim-ratios.py; bound 1.1x),
# then each launch's GPU time at the short causal shapes of 59 and 111 and
# their powers of two (scripts/device-kernel-times.sh: the padded copies
# apart from the kernel).
#   device run: GTEST_FILTER='-*' scripts/device-run.sh scripts/device-head-dims.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/tessera-out}"
shapes=""
for d in 40 56 59 64 80 88 111 128 160 224 256; do
  shapes+="4,16,4096,$d,0;16,16,1024,$d,1;"
done
tessera-bench attention --shapes "${shapes%;}" --dtype bf16 --backward --reps 20 \
  --json "$out/head-dims.json" | grep -v "^#"
python3 scripts/head-dim-ratios.py "$out/head-dims.json" | tee "$out/head-dims.md"
for d in 59 64 111 128; do
  scripts/device-kernel-times.sh "launches-d$d" tessera-bench attention \
    --shapes "16,16,1024,$d,1" --dtype bf16 --backward --reps 1
done
