#!/usr/bin/env bash
# Builds Tessera and runs every test: the format check (clang-format 22),
# find_package(Tessera) from a separate project against an install, the
# examples/ projects built against that install and run (their float64
# checks; on the interpreter without a GPU), then lit +
# FileCheck on the passes and tools, GoogleTest on the CPU, and the GPU tests
# (which skip themselves, saying so, when the machine has no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check-format.sh
scripts/build.sh
cmake --install build --prefix build/install >/dev/null
# The installed tools start from the prefix (their run path reaches LLVM's
# and CUDA's libraries).
build/install/bin/tessera-compile --list >/dev/null
build/install/bin/tessera-tune --help >/dev/null
cmake -S tests/consumer -B build/consumer -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/consumer >/dev/null
build/consumer/consumer
for example in examples/*/; do
  name=$(basename "$example")
  cmake -S "$example" -B "build/examples-installed/$name" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
  cmake --build "build/examples-installed/$name" >/dev/null
  "build/examples-installed/$name/$name"
done
ctest --test-dir build --output-on-failure -j2
