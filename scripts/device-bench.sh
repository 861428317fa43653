#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle: the
# tables of docs/PERFORMANCE.md. The peers (PyTorch SDPA's back ends and
# FlexAttention through bench_anchors.py, cuBLAS, torch.softmax and the copy
# bandwidth through bench_general.py, both carried in .device; SDPA's fp32
# back end through device-f32-peer.py; RMSNorm's backward and torch.bmm through
# device-general-peers.py, with torch.cumsum) and Tessera on the same shapes in the
# same call, the seed's README example, the runtime figures, then
# $OUT/performance.md, rendered by `tessera-bench markdown` from the JSON
# (kept in $OUT/bench-json.tar, so the table can be rendered again here).
#   device run: scripts/device-run.sh scripts/device-bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/tessera-out}"
json=/tmp/tessera-bench-json
rm -rf "$json" && mkdir -p "$json"
# bf16: the six FlashAttention benchmark shapes, head dim 256, and a
# batch-heavy short-sequence one.
bf16="4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1"
bf16+=";4,32,4096,64,0;4,32,4096,64,1;4,16,4096,256,0;4,16,4096,256,1;16,16,1024,128,1"
f16="4,16,4096,128,0;4,16,4096,128,1"
f32="1,2,16384,512,0;4,16,4096,256,0;4,16,4096,128,0;4,16,4096,128,1;4,32,4096,64,0"
export PYTHONUNBUFFERED=1
status=0
if [ -f .device/bench_anchors.py ]; then
  OUT="$json" python3 .device/bench_anchors.py torch --shapes "$bf16" 2>&1 | grep -v "^ *$"
else
  echo "device-bench: .device/bench_anchors.py missing (copy it from ../shared/anchors/)" >&2
fi
if [ -f .device/bench_general.py ]; then
  OUT="$json" python3 .device/bench_general.py copy softmax norms gemm
else
  echo "device-bench: .device/bench_general.py missing (copy it from ../shared/anchors/)" >&2
fi
python3 scripts/device-f32-peer.py --shapes "$f32" --json "$json/f32-peer.json" || status=1
python3 scripts/device-general-peers.py --json "$json/general-peers.json" || status=1
tessera-bench attention --backward --shapes "$bf16" --dtype bf16 --json "$json/bf16.json" || status=1
tessera-bench attention --shapes "$f16" --dtype f16 --json "$json/f16.json" || status=1
tessera-bench attention --shapes "$f32" --dtype f32 --json "$json/f32.json" || status=1
tessera-bench kernels --dtype bf16 --json "$json/kernels-bf16.json" || status=1
tessera-bench kernels --dtype f16 --softmax "" --cumsum "" --rms-norm "" --rms-norm-backward "" \
  --batched-matmul "" --json "$json/kernels-f16.json" || status=1
if command -v tessera-seed-example >/dev/null; then
  tessera-seed-example || status=1
  python3 scripts/device-f32-peer.py --shapes "1,2,131072,512,0" --key-mask --reps 2 || status=1
fi
tessera-bench runtime --json "$json/runtime.json" || status=1
ours=() peers=()
for f in bf16 f16 f32 kernels-bf16 kernels-f16; do
  [ -f "$json/$f.json" ] && ours+=("$json/$f.json")
done
for p in anchors f32-peer general general-peers; do
  [ -f "$json/$p.json" ] && peers+=(--peers "$json/$p.json")
done
tessera-bench markdown "${ours[@]}" "${peers[@]}" \
  > "$out/performance.md" || status=1
cat "$out/performance.md"
tar -C "$json" -cf "$out/bench-json.tar" .
exit $status
