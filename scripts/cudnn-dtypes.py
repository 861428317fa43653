#!/usr/bin/env python3
# On the GPU machine: PyTorch SDPA's cuDNN back end, forward and backward, at
# each shape in bf16, in f16, and in f16 holding bf16 values (randn rounded
# to bf16 first: 8 significant bits in a 16-bit format). Whether cuDNN's f16
# trails its bf16 as ours does, and whether the values or the format do it
# (docs/PERFORMANCE.md "f16 beside bf16"):
#   python3 scripts/cudnn-dtypes.py "4,16,4096,128,0;4,16,4096,128,1"
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench

shapes = [tuple(int(x) for x in item.split(",")) for item in sys.argv[1].split(";") if item]
for b, h, s, d, causal in shapes:
    torch.manual_seed(1234)
    base = [torch.randn(b, h, s, d, device="cuda") for _ in range(4)]
    kinds = {
        "bf16": [x.to(torch.bfloat16) for x in base],
        "f16": [x.to(torch.float16) for x in base],
        "f16-bf16-values": [x.to(torch.bfloat16).to(torch.float16) for x in base],
    }
    for name, (q, k, v, do) in kinds.items():
        for t in (q, k, v):
            t.requires_grad_(True)
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal))
            fwd = do_bench(fn, warmup=25, rep=100, return_mode="median")
            o = fn()
            bwd = do_bench(lambda: o.backward(do, retain_graph=True), warmup=25, rep=100,
                           grad_to_none=[q, k, v], return_mode="median")
        print(f"cudnn {name:16s} b{b} h{h} s{s} d{d} causal={causal}: fwd {fwd:.4f} ms, "
              f"bwd {bwd:.4f} ms", flush=True)
