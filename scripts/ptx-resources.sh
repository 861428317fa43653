#!/usr/bin/env bash
# Registers, spill bytes and ptxas's wgmma serialization warnings of every PTX
# file of a scripts/ptx-snapshot.sh directory, one line per file:
#   NAME REGISTERS SPILL_STORE_BYTES SERIALIZATION_WARNINGS
# Compare two snapshots' (before and after a code-generation change):
#   scripts/ptx-resources.sh A > a.txt; scripts/ptx-resources.sh B > b.txt
#   join a.txt b.txt | awk '$2 != $5 || $3 != $6 || $4 != $7'
# ptxas assembles each file standalone (whole program), as the runtime's
# producer-warpgroup kernels are; the snapshot does not hold every shipped
# configuration, so run the Shipped/*.CompileWithoutSpills unit tests too.
set -euo pipefail
dir=${1:?usage: ptx-resources.sh <snapshot-dir>}
ptxas="${CUDA_HOME:-/usr/local/cuda}/bin/ptxas"
one() {
  local f=$1 arch=sm_90a
  [[ $f == *.sm_80.* ]] && arch=sm_80
  local log
  log=$("$ptxas" -arch="$arch" -v "$f" -o /dev/null 2>&1) || { echo "$(basename "$f") FAILED"; return; }
  echo "$(basename "$f")" \
    "$(grep -o 'Used [0-9]* registers' <<< "$log" | awk '{s += $2} END {print s + 0}')" \
    "$(grep -o '[0-9]* bytes spill stores' <<< "$log" | awk '{s += $1} END {print s + 0}')" \
    "$(grep -c 'C75' <<< "$log" || true)"
}
export -f one
export ptxas
find "$dir" -name '*.ptx' -print0 | sort -z | xargs -0 -P "$(nproc)" -I{} bash -c 'one "$1"' _ {} | sort
