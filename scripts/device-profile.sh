#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# Nsight Compute on one launch of one kernel of a tessera-bench run, the
# speed-of-light, occupancy and warp-state sections, then the stall samples
# summed per SASS opcode and the instructions that gather the most
# (scripts/ncu-stalls.py). Clocks are left alone (the lent machine's rule).
#   scripts/device-profile.sh NAME KERNEL_REGEX LAUNCH_SKIP tessera-bench ARGS...
# LAUNCH_SKIP counts the matching launches before the profiled one: with
# `--reps 1`, tessera-bench launches the heuristic's kernels twice (warm-up,
# timed run), then each of --forward-configs / --backward-configs twice, so 2
# profiles the first configuration. The report lands in $OUT/NAME.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
name=$1 kernel=$2 skip=$3
shift 3
out="${OUT:-/tmp/tessera-out}"
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
rep=/tmp/$name
timeout "${TESSERA_PROFILE_TIMEOUT:-240}" "$ncu" --clock-control none -k "regex:$kernel" \
  --launch-skip "$skip" -c 1 --section SpeedOfLight --section Occupancy \
  --section LaunchStats --section WarpStateStats --section SourceCounters \
  --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis -f -o "$rep" "$@" \
  > "/tmp/$name.log" 2>&1
rc=$?
{
  echo "== $name: $kernel (skip $skip): $*"
  tail -5 "/tmp/$name.log"
  "$ncu" --import "$rep.ncu-rep" --page details 2>&1 | grep -v "^ *-*$" | cut -c1-110
  "$ncu" --import "$rep.ncu-rep" --page source --csv --print-source sass 2>/dev/null |
    python3 scripts/ncu-stalls.py
} > "$out/$name.txt" 2>&1
grep -E "Duration|Registers Per|Compute \(SM\) Throughput|Memory Throughput|Issue Slots Busy" \
  "$out/$name.txt" | head -8
exit $rc
