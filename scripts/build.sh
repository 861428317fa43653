#!/usr/bin/env bash
# Configures and builds Tessera in build/ (shared libLLVM/libMLIR: fast links).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" >/dev/null
fi
cmake --build build "$@"
