#!/usr/bin/env bash
# A kernel's SASS without a GPU: tessera-compile writes the cubin, nvdisasm
# (NVIDIA's pip wheel, fetched once into .tools/, git-ignored: the Debian
# machines' CUDA toolkit has ptxas but no nvdisasm) disassembles it, and a
# summary says per loop (a backward branch and its target) how many warpgroup
# MMAs, their waits, CTA barriers, mbarrier waits and spill accesses it runs,
# and which spill reloads sit in a loop: ptxas's "N bytes spill" does not say
# whether they run once or every iteration.
#   scripts/sass.sh OUT.sass KERNEL [tessera-compile options...]
#   scripts/sass.sh /tmp/dkdv.sass attention_backward_dkdv --arch=sm_90a --dtype=bf16 \
#     --num-warps=8 -DBLOCK_M=64 -DBLOCK_N=128 -DBLOCK_D=128 -DTMA=1 -DWARP_SPECIALIZE=1 \
#     -DDQ_ATOMIC=1 -DTMA_STORE=1 -DWGMMA=1
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${1:?usage: sass.sh OUT.sass KERNEL [tessera-compile options...]}
shift
compile="${TESSERA_COMPILE:-$root/build/bin/tessera-compile}"
nvdisasm=$(command -v nvdisasm || true)
if [ -z "$nvdisasm" ]; then
  nvdisasm="$root/.tools/nvidia/cu13/bin/nvdisasm"
  if [ ! -x "$nvdisasm" ]; then
    wheel=$(mktemp -d)
    pip download -q --no-deps -d "$wheel" nvidia-cuda-nvdisasm
    mkdir -p "$root/.tools"
    python3 -m zipfile -e "$wheel"/nvidia_cuda_nvdisasm-*.whl "$root/.tools"
    chmod +x "$nvdisasm"
    rm -rf "$wheel"
  fi
fi
cubin=$(mktemp --suffix=.cubin)
trap 'rm -f "$cubin"' EXIT
"$compile" "$@" --emit=cubin -o "$cubin"
"$nvdisasm" -c "$cubin" > "$out"
python3 - "$out" <<'EOF'
import re
import sys

lines = open(sys.argv[1]).read().splitlines()
address = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
label = re.compile(r"^(\.L_x_\d+):")
labels, code = {}, []
pending = []
for line in lines:
    m = label.match(line.strip())
    if m:
        pending.append(m.group(1))
        continue
    m = address.search(line)
    if m:
        at = int(m.group(1), 16)
        for name in pending:
            labels[name] = at
        pending = []
        code.append((at, m.group(2)))
kinds = {
    "HGMMA": r"\bHGMMA\.",
    "wgmma waits": r"WARPGROUP\.DEPBAR",
    "CTA barriers": r"\bBAR\.(SYNC|ARV|RED)",
    "mbarrier try-waits": r"SYNCS\.PHASECHK\.TRANS64\.TRYWAIT",
    "spill loads": r"\bLDL\b",
    "spill stores": r"\bSTL\b",
}
loops = []
for at, text in code:
    m = re.search(r"\bBRA\b.*`\((\.L_x_\d+)\)", text)
    if m and m.group(1) in labels and labels[m.group(1)] < at:
        loops.append((labels[m.group(1)], at))
# Only the outermost span of nested or retry loops (an mbarrier wait's spin is
# a backward branch too): keep spans not inside another.
loops = [l for l in loops if not any(o != l and o[0] <= l[0] and l[1] <= o[1] for o in loops)]
spills = [(at, text) for at, text in code if re.search(kinds["spill loads"], text)
          or re.search(kinds["spill stores"], text)]
print(f"{sys.argv[1]}: {len(code)} instructions, {len(spills)} spill accesses")
for first, last in sorted(set(loops)):
    body = [text for at, text in code if first <= at <= last]
    counts = ", ".join(f"{sum(bool(re.search(p, t)) for t in body)} {k}" for k, p in kinds.items())
    print(f"loop {first:#06x}-{last:#06x}: {len(body)} instructions; {counts}")
    for at, text in spills:
        if first <= at <= last:
            print(f"  {at:#06x} {text}")
EOF
