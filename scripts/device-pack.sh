#!/usr/bin/env bash
# Builds the self-contained GPU bundle: Tessera's GPU tests, tools and demo
# with LLVM/MLIR linked statically (the GPU machine has neither), stripped and
# xz-compressed into .device/tessera-bundle.tar.xz (git-ignored; name `.device`
# in the device tool's `carry`). See docs/DEVICE.md. TESSERA_PACK_DIR names
# another folder (a second bundle, e.g. .device-examples, for a second call
# when one bundle would pass the 64 MiB a call carries).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
# TESSERA_PACK_TARGETS narrows the bundle (it must stay under 64 MiB).
read -r -a targets <<< "${TESSERA_PACK_TARGETS:-tessera-gpu-tests tessera-bench tessera-tune layer_norm}"
if [ ! -f build-static/build.ninja ]; then
  cmake -S . -B build-static -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_STATIC_LLVM=ON \
    -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" >/dev/null
fi
# Static MLIR links take a few GiB each: one at a time on a small machine.
cmake --build build-static --target "${targets[@]}" $(ls -d examples/*/ | xargs -n1 basename | sed 's/$/_kernels/') -- -j2 -l2
stage=$(mktemp -d)
bundle_dir=${TESSERA_PACK_DIR:-.device}
mkdir -p "$stage/tessera/bin" "$bundle_dir"
for t in "${targets[@]}"; do
  # Tools and tests are in bin/; an example is in examples/<name>/.
  src=build-static/bin/$t
  [ -f "$src" ] || src=build-static/examples/$t/$t
  strip -o "$stage/tessera/bin/$t" "$src"
done
# The examples' kernel libraries, for tessera-tune --load.
mkdir -p "$stage/tessera/lib"
for lib in build-static/examples/*/lib*.so; do
  if [ -f "$lib" ]; then strip -o "$stage/tessera/lib/$(basename "$lib")" "$lib"; fi
done
git rev-parse --short HEAD > "$stage/tessera/REVISION" 2>/dev/null || true
tar -C "$stage" -cf - tessera | xz -T2 -9 > "$bundle_dir/tessera-bundle.tar.xz"
rm -rf "$stage"
size=$(stat -c %s "$bundle_dir/tessera-bundle.tar.xz")
echo "bundle: $bundle_dir/tessera-bundle.tar.xz ($((size / 1024 / 1024)) MiB)"
if ((size > 60 * 1024 * 1024)); then
  echo "bundle is over 60 MiB: the device tool carries at most 64 MiB" >&2
  exit 1
fi
