#!/usr/bin/env bash
# Builds Tessera and runs the demo: the foundation kernels written in the DSL,
# compiled by Tessera's MLIR pipeline, run and checked on the GPU (or, on a
# machine without one, compiled for sm_80 and sm_90a with their resource use).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh --target tessera-demo
build/bin/tessera-demo "$@"
