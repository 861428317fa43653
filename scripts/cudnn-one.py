#!/usr/bin/env python3
# On the GPU machine: three cuDNN SDPA forwards and backwards (PyTorch's
# CUDNN_ATTENTION back end, bf16) at one shape, for Nsight Compute to show
# cuDNN's kernels, grids and registers beside ours (docs/PERFORMANCE.md):
#   ncu --section LaunchStats --launch-skip 3 -c 12 python3 scripts/cudnn-one.py 16,16,1024,128,1
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

b, h, s, d, causal = (int(x) for x in sys.argv[1].split(","))
q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
           for _ in range(3))
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for _ in range(3):
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=bool(causal))
        o.backward(torch.ones_like(o))
torch.cuda.synchronize()
