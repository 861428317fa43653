"""PyTorch's dropout then residual add, timed as the example times its fused kernel.

Run on the GPU machine: python3 peer.py  (bf16, 8192x8192 and 32768x4096, p = 0.1;
GB/s counts x and residual read and out written, as `dropout_residual --bench` does.)
"""
import torch
import torch.nn.functional as F
from triton.testing import do_bench

for m, n in ((8192, 8192), (32768, 4096)):
    x = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)
    r = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)
    ms = do_bench(lambda: r + F.dropout(x, 0.1, training=True), warmup=25, rep=100,
                  return_mode="median")
    print(f"torch dropout+residual bf16 {m}x{n}  {ms:.4f} ms {3 * x.numel() * 2 / ms / 1e6:.1f} GB/s")
