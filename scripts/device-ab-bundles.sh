#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the new bundle:
# the A/B of two builds in one call, for changes no process-wide switch turns
# off (scripts/device-ab.sh is the A/B of a switch). The old build is a bundle
# of tessera-bench alone, made at the old commit and carried beside the new:
#   here:   git checkout OLD && TESSERA_PACK_TARGETS=tessera-bench \
#             TESSERA_PACK_DIR=.device-old scripts/device-pack.sh && git checkout -
#   device: carry [".device", ".device-old"] (both under 64 MiB together; a
#           bench-only new bundle, TESSERA_PACK_DIR=.device-ab, when the tests'
#           is too large), then
#           GTEST_FILTER='-*' scripts/device-run.sh scripts/device-ab-bundles.sh \
#             .device-old/tessera-bundle.tar.xz [NAME=VALUE]
# The attention forward and backward (bf16, heuristic configurations) at the
# issue's ten shapes, matmul and batched_matmul: new, old and (with NAME=VALUE)
# the new under that switch, alternated, three rounds while AB_BUDGET seconds
# (500) last, each build with a kernel cache of its own; then cuDNN.
# AB_EXTRA_SHAPES adds shapes to the ten.
# docs/PERFORMANCE.md "dQ beside dK/dV on a side stream" is one such run.
set -uo pipefail
cd "$(dirname "$0")/.."
old_bundle=${1:?usage: $0 OLD_BUNDLE.tar.xz [NAME=VALUE]}
switch=${2:-}
budget=${AB_BUDGET:-500}
left() { echo $((budget - SECONDS)); }
old_root=$(mktemp -d)
tar -C "$old_root" -xJf "$old_bundle" || { echo "cannot unpack $old_bundle" >&2; exit 1; }
old="$old_root/tessera/bin/tessera-bench"
echo "new: $(command -v tessera-bench) ($(cat /tmp/tessera-run/tessera/REVISION 2>/dev/null))"
echo "old: $old ($(cat "$old_root/tessera/REVISION" 2>/dev/null))"
S="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;4,32,4096,64,0;4,32,4096,64,1"
S+=";4,16,4096,256,0;4,16,4096,256,1;16,16,1024,128,1;8,16,2048,128,1"
# AB_EXTRA_SHAPES: more shapes after those (b,h,s,d,causal;...).
[ -n "${AB_EXTRA_SHAPES:-}" ] && S+=";$AB_EXTRA_SHAPES"
status=0
side() { # label, binary, cache, [NAME=VALUE]
  echo "== $1 ($(left)s left)"
  env ${4:-} TESSERA_CACHE_DIR=$3 "$2" attention --shapes "$S" --dtype bf16 --backward || status=1
  env ${4:-} TESSERA_CACHE_DIR=$3 "$2" kernels --dtype bf16 --softmax "" --rms-norm "" --cumsum "" \
    --rms-norm-backward "" || status=1
}
for round in 1 2 3; do
  # A round takes about a third of the first's time once the caches are warm.
  if ((round > 1 && $(left) < 150)); then break; fi
  side new tessera-bench /tmp/tessera-ab-new
  side old "$old" /tmp/tessera-ab-old
  if [ -n "$switch" ]; then side "$switch" tessera-bench /tmp/tessera-ab-new "$switch"; fi
done
# The peers' script travels in the carried folder, as scripts/device-bench.sh
# expects it (copied there from ../shared/anchors).
anchors=${TESSERA_BUNDLE_DIR:-.device}/bench_anchors.py
if [ -f "$anchors" ]; then
  echo "== cuDNN ($(left)s left)"
  python3 "$anchors" torch --shapes "$S" || status=1
else
  echo "no $anchors: cuDNN not timed"
fi
rm -rf "$old_root"
exit $status
