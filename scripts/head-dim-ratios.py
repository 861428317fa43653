#!/usr/bin/env python3
"""Reads tessera-bench attention --json files and prints, for each head dim
that is not a power of two, its time over the time of the next power of two
at the same (batch, heads, length, causal, mode): the issue's bound for head
dims the tensor cores do not take as a tile is 1.1x. Rows whose power of two
was not run are left out. No GPU needed (a saved run renders here too).
  scripts/head-dim-ratios.py RUN.json..."""
import json
import sys


def next_power_of_two(d):
    p = 1
    while p < d:
        p *= 2
    return p


def main(paths):
    rows = [r for p in paths for r in json.load(open(p)) if r.get("system") == "tessera"]
    times = {}
    for r in rows:
        key = (r["mode"], r["dtype"], r["b"], r["h"], r["s"], r["causal"], r["mask"], r["d"])
        times.setdefault(key, r["ms"])  # the first run of a shape
    print("| mode | dtype | b, h, s | causal | d | ms | next | its ms | ratio |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for key, ms in sorted(times.items()):
        mode, dtype, b, h, s, causal, mask, d = key
        native = next_power_of_two(d)
        if native == d or key[:-1] + (native,) not in times:
            continue
        base = times[key[:-1] + (native,)]
        worst = max(worst, ms / base)
        print(f"| {mode} | {dtype} | {b}, {h}, {s} | {'yes' if causal else 'no'} | {d} | "
              f"{ms:.3f} | {native} | {base:.3f} | {ms / base:.2f} |")
    print(f"\nlargest ratio {worst:.2f} (bound 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
