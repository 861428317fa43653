#!/usr/bin/env bash
# Installs what building Tessera needs on a Debian 12 machine, and nothing when
# everything is there already (idempotent, quiet). The CUDA toolkit is expected
# in /usr/local/cuda (or $CUDA_HOME): Debian's packages do not carry CUDA 13.
set -euo pipefail

packages=(cmake ninja-build g++ python3 libgtest-dev libzstd-dev zlib1g-dev
          llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-format-22)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

cuda="${CUDA_HOME:-/usr/local/cuda}"
for f in include/cuda.h include/nvJitLink.h include/nvrtc.h; do
  if [ ! -e "$cuda/$f" ]; then
    echo "setup: the CUDA toolkit (13.x) is missing: $cuda/$f not found." >&2
    echo "       Install it from NVIDIA and set CUDA_HOME if it is not in /usr/local/cuda." >&2
    exit 1
  fi
done
