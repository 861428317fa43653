#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# Nsight Compute's GPU time, DRAM bytes and registers of every kernel a
# command launches, in launch order (scripts/ncu-kernel-times.py), for an
# operation made of several launches (attention at head dims whose rows are
# not 16-byte runs: K and V copied, the kernel, O copied back). Clocks are
# left alone (the lent machine's rule).
#   scripts/device-kernel-times.sh NAME tessera-bench attention --shapes ... --reps 1
# With --reps 1, tessera-bench runs each operation twice (warm-up, timed):
# the second half of the lines. The table lands in $OUT/NAME.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
name=$1
shift
out="${OUT:-/tmp/tessera-out}"
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout "${TESSERA_PROFILE_TIMEOUT:-240}" "$ncu" --clock-control none --csv \
  --metrics gpu__time_duration.sum,dram__bytes.sum,launch__registers_per_thread "$@" \
  > "/tmp/$name.csv" 2> "/tmp/$name.log"
rc=$?
{
  echo "== $name: $*"
  python3 scripts/ncu-kernel-times.py < "/tmp/$name.csv"
} | tee "$out/$name.txt"
exit $rc
