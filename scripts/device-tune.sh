#!/usr/bin/env bash
# On the GPU machine (after scripts/device-run.sh unpacked the bundle): the
# runtime figures (cold compile, cache hit, launch overhead, a full sweep),
# then tunes each benchmark shape and times the tuned forward against the
# heuristic's configuration at every one.
#   device run: scripts/device-run.sh scripts/device-tune.sh
set -uo pipefail
out="${OUT:-/tmp/tessera-out}"
tessera-bench runtime --json "$out/tessera-runtime.json" 2>&1
shapes="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;4,32,4096,64,0;4,32,4096,64,1"
IFS=';' read -ra items <<< "$shapes"
for item in "${items[@]}"; do
  IFS=',' read -r b h s d c <<< "$item"
  causal=""; [ "$c" = 1 ] && causal="--causal"
  tessera-tune attention --batch "$b" --heads "$h" --seq "$s" --dim "$d" --dtype bf16 $causal \
    --budget-ms 60 2>/dev/null | grep -E "^tuning|^ +1 |^ +- |candidates in"
done 2>&1
tessera-bench attention --shapes "$shapes" --dtype bf16 --compare-heuristic \
  --json "$out/tessera-bench-tuned.json" 2>&1
