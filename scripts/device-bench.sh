#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# the peers (PyTorch SDPA back ends, via bench_anchors.py carried in .device)
# and Tessera on the same shapes in the same call, then the runtime figures.
#   device run: scripts/device-run.sh scripts/device-bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/tessera-out}"
shapes="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;4,32,4096,64,0;4,32,4096,64,1"
export PYTHONUNBUFFERED=1
if [ -f .device/bench_anchors.py ]; then
  python3 .device/bench_anchors.py torch --shapes "$shapes" 2>&1 | grep -v "^ *$" | tee "$out/anchors.log"
fi
tessera-bench attention --shapes "$shapes" --dtype bf16 --json "$out/tessera-bench.json" 2>&1 | tee "$out/tessera-bench.log"
tessera-bench runtime --json "$out/tessera-runtime.json" 2>&1 | tee "$out/tessera-runtime.log"
