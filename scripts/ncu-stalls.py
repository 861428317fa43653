#!/usr/bin/env python3
"""Reads `ncu --page source --csv --print-source sass` on stdin and prints the
warp-stall samples summed per SASS opcode, then the instructions that gather
the most samples, each with its address, so that a schedule's waits (a
WARPGROUP.DEPBAR after every HGMMA, a BAR.SYNC, an mbarrier try-wait loop)
show up by name. Columns are found by their titles, which differ between
Nsight Compute versions; stall-reason columns, where the version prints
them, are summed too."""
import csv
import re
import sys
from collections import Counter


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def main():
    rows = list(csv.reader(sys.stdin))
    header_at = next((i for i, r in enumerate(rows) if "Source" in r), None)
    if header_at is None:
        print("ncu-stalls: no source table on stdin")
        return 1
    header = rows[header_at]
    source = header.index("Source")
    address = next((i for i, h in enumerate(header) if "Address" in h), None)
    samples = next((i for i, h in enumerate(header) if h.startswith("Warp Stall Sampling (All")),
                   None)
    executed = next((i for i, h in enumerate(header) if h == "Instructions Executed"), None)
    reasons = [i for i, h in enumerate(header) if h.lower().startswith("stall")]
    if samples is None:
        print("ncu-stalls: no stall-sampling column; columns: " + ", ".join(header))
        return 1
    per_opcode, per_reason = Counter(), Counter()
    instructions = []
    total = 0.0
    for r in rows[header_at + 1:]:
        if len(r) <= max(source, samples):
            continue
        text = r[source].strip()
        opcode = re.sub(r"^@!?U?P\w+\s+", "", text).split(" ")[0]
        s = number(r[samples])
        total += s
        per_opcode[opcode] += s
        for i in reasons:
            per_reason[header[i]] += number(r[i])
        instructions.append((s, r[address] if address is not None else "", text,
                             number(r[executed]) if executed is not None else 0))
    print(f"stall samples: {total:.0f}")
    print("per opcode (share of samples):")
    for opcode, s in per_opcode.most_common(16):
        print(f"  {opcode:28s} {s / max(total, 1):6.1%}")
    if per_reason:
        print("per reason:")
        for reason, s in per_reason.most_common(10):
            print(f"  {reason:40s} {s / max(total, 1):6.1%}")
    print("instructions with the most samples:")
    for s, addr, text, count in sorted(instructions, reverse=True)[:40]:
        print(f"  {s / max(total, 1):6.1%} {addr:>8s} {count:>10.0f}x  {text[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
