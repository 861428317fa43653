#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# the A/B of a process-wide code-generation switch in one call, e.g.
#   scripts/device-ab.sh TESSERA_INLINE_WGMMA=1     (wgmma as one statement)
#   scripts/device-ab.sh TESSERA_NVPTX_SHORT_PTR=1  (32-bit shared pointers)
# The attention forward and backward (bf16, heuristic configurations) at the
# benchmark shapes and matmul at 2048-8192³, the default and the switch
# alternating, twice, each side with a cache of its own (the switches change
# the kernel cache's key too). docs/COMPILER.md §4 records the results.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# = 1 ] && [[ "$1" == *=* ]] || { echo "usage: $0 NAME=VALUE" >&2; exit 2; }
status=0
shapes="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;4,32,4096,64,0;4,32,4096,64,1;16,16,1024,128,1;4,16,4096,256,0"
side() {
  tessera-bench attention --shapes "$shapes" --dtype bf16 --backward || status=1
  tessera-bench kernels --dtype bf16 --softmax "" --rms-norm "" --cumsum "" \
    --rms-norm-backward "" --batched-matmul "" || status=1
}
for i in 1 2; do
  echo "== default, run $i"
  TESSERA_CACHE_DIR=/tmp/tessera-cache-ab0 side
  echo "== $1, run $i"
  export "${1?}"
  TESSERA_CACHE_DIR=/tmp/tessera-cache-ab1 side
  unset "${1%%=*}"
done
exit $status
