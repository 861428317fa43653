#!/usr/bin/env bash
# Builds the self-contained GPU bundle: Tessera's GPU tests, tools and demo
# with LLVM/MLIR linked statically (the GPU machine has neither), stripped and
# xz-compressed into .device/tessera-bundle.tar.xz (git-ignored; name `.device`
# in the device tool's `carry`). See docs/DEVICE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
# TESSERA_PACK_TARGETS narrows the bundle (it must stay under 64 MiB).
read -r -a targets <<< "${TESSERA_PACK_TARGETS:-tessera-gpu-tests tessera-demo tessera-bench tessera-tune}"
if [ ! -f build-static/build.ninja ]; then
  cmake -S . -B build-static -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_STATIC_LLVM=ON \
    -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" >/dev/null
fi
# Static MLIR links take a few GiB each: one at a time on a small machine.
cmake --build build-static --target "${targets[@]}" -- -j2 -l2
stage=$(mktemp -d)
mkdir -p "$stage/tessera/bin" .device
for t in "${targets[@]}"; do
  strip -o "$stage/tessera/bin/$t" "build-static/bin/$t"
done
git rev-parse --short HEAD > "$stage/tessera/REVISION" 2>/dev/null || true
tar -C "$stage" -cf - tessera | xz -T1 -9 > .device/tessera-bundle.tar.xz
rm -rf "$stage"
size=$(stat -c %s .device/tessera-bundle.tar.xz)
echo "bundle: .device/tessera-bundle.tar.xz ($((size / 1024 / 1024)) MiB)"
if ((size > 60 * 1024 * 1024)); then
  echo "bundle is over 60 MiB: the device tool carries at most 64 MiB" >&2
  exit 1
fi
