"""Peers of the general kernels that ../shared/anchors/bench_general.py does not time.

Run on the GPU machine (PyTorch and Triton's do_bench), in the same call as
`tessera-bench kernels`, whose rows `tessera-bench markdown` sets beside these:
    python3 scripts/device-general-peers.py [--json FILE]
- torch-rms_norm_backward: dx and dweight of F.rms_norm through autograd, bf16,
  4096x8192 and 32768x1024 (GB/s: reads of x and dy, the write of dx, as
  tessera-bench counts its kernel)
- torch-cumsum: torch.cumsum(x, -1), bf16, 16384x4096 and 65536x1024 (GB/s, read + write)
- torch-batched_matmul: torch.bmm (cuBLAS), bf16, BxMxNxK of tessera-bench's
  defaults (TFLOP/s, 2·B·M·N·K)
Medians of triton.testing.do_bench (L2 flushed between runs).
"""
import json, sys

import torch
import torch.nn.functional as F
from triton.testing import do_bench

RESULTS = []


def record(what, shape, ms, value, unit):
    RESULTS.append(dict(kernel=what, dtype="bf16", shape=shape, ms=ms, value=value, unit=unit))
    print(f"{what:24s} bf16  {shape:22s} {ms:9.4f} ms {value:8.1f} {unit}", flush=True)


def rms_norm_backward():
    for m, n in ((4096, 8192), (32768, 1024)):
        x = torch.randn(m, n, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        w = torch.randn(n, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        dy = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)
        y = F.rms_norm(x, (n,), w, 1e-6)
        # The backward alone: the graph is kept and run again each time.
        ms = do_bench(lambda: torch.autograd.grad(y, (x, w), dy, retain_graph=True),
                      warmup=25, rep=100, return_mode="median")
        record("torch-rms_norm_backward", f"{m}x{n}", ms, 3 * x.numel() * 2 / ms / 1e6, "GB/s")


def cumsum():
    for m, n in ((16384, 4096), (65536, 1024)):
        x = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)
        ms = do_bench(lambda: torch.cumsum(x, -1), warmup=25, rep=100, return_mode="median")
        record("torch-cumsum", f"{m}x{n}", ms, 2 * x.numel() * 2 / ms / 1e6, "GB/s")


def batched_matmul():
    for b, m, n, k in ((16, 2048, 2048, 2048), (64, 1024, 1024, 1024), (512, 256, 256, 256)):
        x = torch.randn(b, m, k, device="cuda", dtype=torch.bfloat16)
        y = torch.randn(b, k, n, device="cuda", dtype=torch.bfloat16)
        ms = do_bench(lambda: torch.bmm(x, y), warmup=25, rep=100, return_mode="median")
        record("torch-batched_matmul", f"{b}x{m}x{n}x{k}", ms, 2 * b * m * n * k / ms / 1e9,
               "TFLOP/s")


def main():
    print("torch", torch.__version__, torch.cuda.get_device_name(), flush=True)
    cumsum()
    rms_norm_backward()
    batched_matmul()
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
