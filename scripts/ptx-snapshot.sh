#!/usr/bin/env bash
# Writes the PTX of the shipped kernels, over a matrix of configurations and
# both architectures, into one directory: compare two of them (diff -r) to
# check that a compiler refactoring left the generated code as it was.
#   scripts/ptx-snapshot.sh <out-dir> [build-dir]
set -euo pipefail
out=${1:?usage: ptx-snapshot.sh <out-dir> [build-dir]}
build=${2:-build}
compile="$build/bin/tessera-compile"
mkdir -p "$out"

emit() { # name arch dtype warps aligned -D...
  local name=$1 arch=$2 dtype=$3 warps=$4 aligned=$5
  shift 5
  local file="$out/$name.$arch.$dtype.w$warps.a$aligned$(printf '.%s' "$@" | tr '=' '_').ptx"
  if ! "$compile" "$name" --arch="$arch" --dtype="$dtype" --num-warps="$warps" \
      --aligned="$aligned" --emit=ptx -o "$file" "${@/#/-D}" 2>"$file.err"; then
    echo "FAILED: $file" >&2
    cat "$file.err" >&2
  fi
  rm -f "$file.err"
}

for arch in sm_90a sm_80; do
  for aligned in true false; do
    # Attention forward: head dims, stages, causal, mask, tf32.
    for d in 64 128 256; do
      emit attention_forward $arch bf16 4 $aligned BLOCK_D=$d BLOCK_M=64 BLOCK_N=64
      emit attention_forward $arch bf16 8 $aligned BLOCK_D=$d BLOCK_M=128 BLOCK_N=64 CAUSAL=1
    done
    emit attention_forward $arch bf16 8 $aligned BLOCK_D=128 BLOCK_M=128 BLOCK_N=128 NUM_STAGES=1 HAS_MASK=1
    emit attention_forward $arch bf16 4 $aligned BLOCK_D=64 BLOCK_M=64 BLOCK_N=64 V_TRANSPOSED=1 SKIP_UNIT_RESCALE=1
    emit attention_forward $arch f32 4 $aligned BLOCK_D=64 BLOCK_M=64 BLOCK_N=32 TF32=1
    emit attention_forward $arch f32 4 $aligned BLOCK_D=64 BLOCK_M=64 BLOCK_N=32 TF32=1 TF32_ROUNDED_KV=1
    emit attention_forward $arch f32 8 $aligned BLOCK_D=512 BLOCK_M=64 BLOCK_N=32 TF32=1 NUM_STAGES=1
    emit attention_forward $arch f32 4 $aligned BLOCK_D=64 BLOCK_M=32 BLOCK_N=32
    # Head dims in two pieces (BLOCK_D_TAIL): chained score products.
    emit attention_forward $arch bf16 4 $aligned BLOCK_D=128 BLOCK_D_TAIL=32 BLOCK_M=128 BLOCK_N=64 TMA=1 CAUSAL=1
    emit attention_forward $arch bf16 8 $aligned BLOCK_D=256 BLOCK_D_TAIL=32 BLOCK_M=128 BLOCK_N=128 TMA=1 WARP_SPECIALIZE=1
    emit attention_backward_dkdv $arch bf16 8 $aligned BLOCK_D=256 BLOCK_D_TAIL=32 BLOCK_M=64 BLOCK_N=64 TMA=1
    # Persistent forwards: Q and the first key block copied once per tile.
    emit attention_forward $arch bf16 8 $aligned BLOCK_D=128 BLOCK_M=128 BLOCK_N=128 TMA=1 WARP_SPECIALIZE=1 PIPELINE_QK=1 PERSISTENT=1 EVEN_N=1
    emit attention_forward $arch bf16 8 $aligned BLOCK_D=128 BLOCK_M=128 BLOCK_N=128 TMA=1 WARP_SPECIALIZE=1 PIPELINE_QK=1 PERSISTENT=1 CAUSAL=1
    # The shipped short causal d 128 forward (one warpgroup, FlashAttention-3's
    # order, O by TMA) and the causal key-masked backward: at 255 registers,
    # the first to spill when shared addressing changes (ebd2058).
    if [ "$arch" = sm_90a ]; then
      emit attention_forward $arch bf16 4 $aligned BLOCK_D=128 BLOCK_M=128 BLOCK_N=64 CAUSAL=1 PIPELINE_QK=2 TMA=1 TMA_STORE=1
      emit attention_backward_dkdv $arch bf16 4 $aligned BLOCK_D=128 BLOCK_M=64 BLOCK_N=64 CAUSAL=1 HAS_MASK=1 TMA=1 TMA_STORE=1
    fi
    # Attention backward.
    for d in 64 128; do
      emit attention_backward_dkdv $arch bf16 4 $aligned BLOCK_D=$d BLOCK_M=64 BLOCK_N=64
      emit attention_backward_dkdv $arch bf16 8 $aligned BLOCK_D=$d BLOCK_M=64 BLOCK_N=128 CAUSAL=1
      emit attention_backward_dq $arch bf16 4 $aligned BLOCK_D=$d BLOCK_M=64 BLOCK_N=64
      emit attention_backward_dq $arch bf16 4 $aligned BLOCK_D=$d BLOCK_M=64 BLOCK_N=64 DQ_ATOMIC=1 HAS_MASK=1
    done
    emit attention_backward_dkdv $arch bf16 4 $aligned BLOCK_D=256 BLOCK_M=16 BLOCK_N=16
    # Two warpgroups side by side along the columns (64-row dots on 8 warps).
    emit attention_backward_dkdv $arch bf16 8 $aligned BLOCK_D=256 BLOCK_M=64 BLOCK_N=64 TMA=1
    emit attention_backward_dq $arch bf16 8 $aligned BLOCK_D=256 BLOCK_M=64 BLOCK_N=64 TMA=1
    emit attention_backward_dkdv $arch bf16 8 $aligned BLOCK_D=128 BLOCK_M=128 BLOCK_N=64 TMA=1
    emit attention_backward_dkdv $arch f32 4 $aligned BLOCK_D=64 BLOCK_M=32 BLOCK_N=32 TF32=1
    emit attention_backward_dq $arch f32 4 $aligned BLOCK_D=64 BLOCK_M=32 BLOCK_N=32 TF32=1
    # Matmul: the shipped configurations and every pipeline depth.
    for stages in 1 2 3 4; do
      emit matmul $arch bf16 4 $aligned BLOCK_M=128 BLOCK_N=128 BLOCK_K=64 NUM_STAGES=$stages
    done
    emit matmul $arch bf16 8 $aligned BLOCK_M=128 BLOCK_N=256 BLOCK_K=64 NUM_STAGES=4
    # Its copies by TMA, on the kernel's warps and from a producer warpgroup,
    # and a two-stage TMA pipeline.
    emit matmul $arch bf16 8 $aligned BLOCK_M=128 BLOCK_N=256 BLOCK_K=64 NUM_STAGES=4 TMA=1
    emit matmul $arch bf16 8 $aligned BLOCK_M=128 BLOCK_N=256 BLOCK_K=64 NUM_STAGES=4 TMA=1 \
      WARP_SPECIALIZE=1
    emit matmul $arch f16 4 $aligned BLOCK_M=128 BLOCK_N=128 BLOCK_K=64 NUM_STAGES=2 TMA=1
    emit matmul $arch f16 4 $aligned BLOCK_M=64 BLOCK_N=64 BLOCK_K=32
    emit matmul $arch f32 4 $aligned BLOCK_M=64 BLOCK_N=64 BLOCK_K=32
    emit matmul $arch bf16 4 $aligned BLOCK_M=64 BLOCK_N=64 BLOCK_K=32 WGMMA=0
    # Memory-bound kernels.
    emit softmax $arch bf16 4 $aligned BLOCK_N=4096
    emit rms_norm $arch bf16 4 $aligned BLOCK_N=1024 BLOCK_M=2
    emit rms_norm_backward $arch bf16 8 $aligned BLOCK_N=1024 BLOCK_M=2
    emit rms_norm_backward $arch bf16 16 $aligned BLOCK_N=8192 BLOCK_M=1
    emit cumsum $arch bf16 4 $aligned BLOCK_N=4096 BLOCK_M=1
    emit batched_matmul $arch bf16 4 $aligned BLOCK_M=128 BLOCK_N=128 BLOCK_K=64 NUM_STAGES=2
    emit attention_backward_preprocess $arch bf16 4 $aligned BLOCK_D=128
  done
done
ls "$out" | wc -l
