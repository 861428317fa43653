#!/usr/bin/env python3
"""Reads `ncu --csv --metrics gpu__time_duration.sum,dram__bytes.sum,
launch__registers_per_thread` on stdin and prints one line per launch, in
launch order: the kernel, its GPU time, its DRAM bytes and its registers,
then the total time. Where one operation is several launches (attention at
odd head dims: the padded copies of K and V, the kernel, O copied back),
this says what each costs. Columns are found by their titles."""
import csv
import sys
from collections import OrderedDict


def main():
    # The profiled program's own output (a line with commas, say) may come
    # first: the table starts at ncu's title row.
    rows = list(csv.reader(sys.stdin))
    start = next((i for i, r in enumerate(rows) if "Metric Name" in r and "ID" in r), None)
    if start is None:
        print("no launches profiled")
        return 1
    title = rows[start]
    rows = [r for r in rows[start:] if len(r) == len(title)]
    col = {name: title.index(name) for name in
           ("ID", "Kernel Name", "Metric Name", "Metric Unit", "Metric Value")}
    launches = OrderedDict()
    for r in rows[1:]:
        launch = launches.setdefault(r[col["ID"]], {"kernel": r[col["Kernel Name"]].split("(")[0]})
        launch[r[col["Metric Name"]]] = (r[col["Metric Value"]], r[col["Metric Unit"]])
    total_us = 0.0
    scale = {"ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "nsecond": 1e-3}
    for launch in launches.values():
        value, unit = launch.get("gpu__time_duration.sum", ("0", "ns"))
        us = float(value.replace(",", "")) * scale.get(unit, 1.0)
        total_us += us
        dram = " ".join(launch.get("dram__bytes.sum", ("-", "")))
        regs = launch.get("launch__registers_per_thread", ("-", ""))[0]
        print(f"  {launch['kernel'][:48]:48s} {us:9.1f} us  {dram:>16s}  {regs:>4s} registers")
    print(f"  total {total_us:.1f} us over {len(launches)} launches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
