#!/usr/bin/env bash
# On the GPU machine, after scripts/device-run.sh has unpacked the bundle:
# compute-sanitizer's racecheck and memcheck over Tessera's kernels on small
# shapes (a gtest filter): the attention forward and backward (bf16 on wgmma,
# f32 TF32, causal with a key mask, GQA) and the basic kernels. Fails when
# either tool reports a hazard or an error.
#   device run: scripts/device-run.sh scripts/device-sanitize.sh
set -uo pipefail
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
tests="Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x2_2kv_q129_k129_d128"
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x2_1kv_q70_k1100_d128_causal"
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x2_2kv_q129_k129_d128_causal"
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/f32_1x4_2kv_q17_k130_d32_causal_mask"
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x1_1kv_q100_k77_d256_causal_mask"
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x1_1kv_q100_k77_d256_causal"
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x4_2kv_q17_k130_d32_causal_mask"
tests+=":Matrix/AttentionForwardTf32Wgmma.MatchesFloat64Reference/wgmma_1x4_2kv_q17_k130_d32_causal_mask*"
tests+=":Matrix/AttentionBackward.MatchesFloat64Gradients/bf16_1x4_2kv_q17_k130_d32_causal_mask"
tests+=":Matrix/AttentionBackward.MatchesFloat64Gradients/bf16_1x2_2kv_q129_k129_d128"
tests+=":Matrix/AttentionBackward.MatchesFloat64Gradients/bf16_1x1_1kv_q100_k77_d256_causal_mask"
tests+=":Matrix/AttentionBackwardTf32.MatchesFloat64Gradients/tf32_1x4_2kv_q17_k130_d32_causal_mask"
tests+=":Sizes/VectorAdd.*/bf16_n1025:Shapes/Softmax.*/f16_17x333:Shapes/Softmax.*/bf16_17x4099"
tests+=":Shapes/Matmul.*/bf16_*:Shapes/RmsNorm.*/bf16_17x4099:Shapes/RmsNorm.*/f32_129x333"
tests+=":Shapes/RmsNormBackward.*/bf16_129x4099:Shapes/RmsNormBackward.*/f32_3000x333:BatchedMatmul.*"
tests+=":Shapes/Cumsum.*/bf16_129x4099"
tests+=":UserKernels.RandomNumbersMatchTheHostBitForBit:UserKernels.MathAndBitOperations*"
tests+=":AttentionBackwardStrided.MisalignedTensors:Atomics.*:Masks.*:ArgReduce.*:Branches.*"
tests+=":DevicePrint.*:Scans.*:DeviceAssert.PassesWhereTheConditionsHold"
tests+=":MatmulTma.TensorMapsAndTheCpAsyncFallbackMatchReference"
tests+=":UserKernels.BlocksAtAnyColumnOnTheGpu"
tests+=":AnyHeadDim/AttentionForward.MatchesFloat64Reference/bf16_1x4_2kv_q67_k131_d40_causal_mask"
tests+=":AnyHeadDim/AttentionBackward.MatchesFloat64Gradients/bf16_2x2_1kv_q129_k65_d59_causal_mask"
tests+=":AnyHeadDim/AttentionForward.MatchesFloat64Reference/bf16_1x2_1kv_q70_k1100_d111"
tests+=":Matrix/AttentionForwardTma.MatchesFloat64Reference/bf16_1x4_2kv_q200_k333_d128_causal_mask"
tests+=":Matrix/AttentionForwardTma.MatchesFloat64Reference/bf16_1x4_2kv_q67_k131_d40_mask"
tests+=":Matrix/AttentionBackwardTma.MatchesFloat64Gradients/bf16_1x4_2kv_q17_k130_d32_causal_mask"
tests+=":Matrix/AttentionBackwardTma.MatchesFloat64Gradients/bf16_1x1_1kv_q100_k77_d256_causal_mask"
tests+=":Matrix/AttentionBackwardTma.MatchesFloat64Gradients/bf16_1x2_2kv_q129_k129_d128_causal"
# Whole key blocks (EVEN_N): short keys (cp.async) and past 1024 (a producer);
# persistent programs over more tiles than SMs.
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x2_2kv_q65_k512_d128"
tests+=":Matrix/AttentionForward.MatchesFloat64Reference/bf16_1x2_1kv_q100_k2048_d128"
tests+=":AttentionForwardPersistent.ManyShortTiles"
# O written in place (d 111) or through its padded copy (d 59) into a view.
tests+=":AttentionForwardStrided.IntoAnOutputView"
# Head dims in two column pieces (BLOCK_D_TAIL): 80 (64 + 32) on every TMA
# schedule, 160 (128 + 32) forward and backward.
tests+=":Matrix/AttentionForwardTma.MatchesFloat64Reference/bf16_1x4_2kv_q100_k257_d80_causal_mask"
tests+=":AnyHeadDim/AttentionForward.MatchesFloat64Reference/bf16_1x2_1kv_q65_k129_d160_causal"
tests+=":AnyHeadDim/AttentionBackward.MatchesFloat64Gradients/bf16_1x2_1kv_q65_k129_d160_causal_mask"
tests+=":AnyHeadDim/AttentionBackward.MatchesFloat64Gradients/bf16_1x4_2kv_q100_k257_d80_causal"
filter="${TESSERA_SANITIZE_FILTER:-$tests}"
status=0
for tool in racecheck memcheck; do
  echo "== compute-sanitizer --tool $tool"
  # A hang (a barrier that never completes) ends the tool, not the call.
  timeout "${TESSERA_TEST_TIMEOUT:-300}" "$sanitizer" --tool "$tool" --error-exitcode 1 \
    --print-limit 20 tessera-gpu-tests --gtest_brief=1 --gtest_filter="$filter" 2>&1 | tail -15
  ((${PIPESTATUS[0]})) && status=1
done
exit $status
