#!/usr/bin/env python3
"""fp32 attention peers on the GPU machine (bench_anchors.py times bf16 only).

Times PyTorch SDPA's memory-efficient back end (FlashAttention has no fp32) on
fp32 inputs, forward, with TF32 matmuls allowed, in the FlashAttention FLOP
convention, so that docs/PERFORMANCE.md can put Tessera's fp32 forward beside
a peer measured in the same device call.

    python3 scripts/device-f32-peer.py --shapes "4,16,4096,128,0;4,32,4096,64,1"
    python3 scripts/device-f32-peer.py --shapes "1,2,131072,512,0" --key-mask --reps 2
    python3 scripts/device-f32-peer.py --shapes "..." --json f32-peer.json

--json writes the records as bench_anchors.py does (system, mode, dtype, b, h,
s, d, causal, ms, tflops), for `tessera-bench markdown --peers`.
"""
import argparse
import json

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


def time_ms(fn, reps=10):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", required=True, help="b,h,s,d,causal;...")
    parser.add_argument("--key-mask", action="store_true",
                        help="a random key padding mask keeping half the keys (the seed's README)")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--json", help="write the records to this file")
    args = parser.parse_args()
    records = []
    torch.backends.cuda.matmul.allow_tf32 = True
    for item in args.shapes.split(";"):
        b, h, s, d, causal = (int(x) for x in item.split(","))
        q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.float32) for _ in range(3))
        flops = 4 * b * h * s * s * d / (2 if causal else 1)
        # (b, 1, 1, s) booleans, True = may attend, broadcast over heads and queries.
        mask = (torch.rand(b, 1, 1, s, device="cuda") < 0.5) if args.key_mask else None
        with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
            try:
                ms = time_ms(lambda: torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, attn_mask=mask, is_causal=bool(causal)), args.reps)
                print(f"torch-sdpa-efficient         fwd f32   b{b:<3d} h{h:<3d} s{s:<6d} d{d:<4d} "
                      f"{'causal' if causal else 'full':6s} {'key mask ' if args.key_mask else ''}"
                      f"{ms:9.3f} ms {flops / ms / 1e9:8.1f} TFLOP/s")
            except RuntimeError as e:
                ms = None
                print(f"torch-sdpa-efficient         fwd f32   b{b} h{h} s{s} d{d}: "
                      f"unsupported ({e})")
        if not args.key_mask:
            records.append(dict(system="torch-sdpa-efficient", mode="fwd", dtype="f32", b=b, h=h,
                                s=s, d=d, causal=bool(causal), ms=ms,
                                tflops=flops / ms / 1e9 if ms else None))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
