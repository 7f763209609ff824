#!/usr/bin/env python3
"""Summarise `ncu --csv --metrics gpu__time_duration.sum` output of `bench latency --ncu`: per captured forward
(each forward ends with the sampling kernel), time per kernel name (sum, count) and the total.
Usage: ncu_summary.py CSV [LABEL [NAMES]]   NAMES: the forwards' names, comma list (default: prefill 2048, then
the default --ncu-decode steps)"""
import csv
import re
import sys
from collections import OrderedDict

NAMES = ["prefill 2048", "decode b1 ctx128", "decode b64 ctx2048"]


def short(name: str) -> str:
    name = re.sub(r"\(.*", "", name)  # drop argument lists
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"qb::(cuda::)?(<unnamed>::)?", "", name)
    return name[:70]


def main() -> None:
    rows = []
    with open(sys.argv[1], newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    for r in csv.DictReader(lines):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        v = float(r["Metric Value"].replace(",", ""))
        unit = r.get("Metric Unit", "nsecond")
        us = v / 1000 if unit.startswith("n") else v if unit.startswith("u") else v * 1000
        rows.append((short(r["Kernel Name"]), us))
    forwards, cur = [], None
    for name, us in rows:
        if cur is None:
            cur = []
            forwards.append(cur)
        cur.append((name, us))
        if "sample_kernel" in name:
            cur = None
    label = sys.argv[2] if len(sys.argv) > 2 else ""
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else NAMES
    for i, fw in enumerate(forwards):
        agg = OrderedDict()
        for name, us in fw:
            a = agg.setdefault(name, [0.0, 0])
            a[0] += us
            a[1] += 1
        total = sum(us for _, us in fw)
        print(f"== {label} {names[i] if i < len(names) else i}: {len(fw)} kernels, {total / 1000:.3f} ms of kernel time")
        for name, (us, n) in sorted(agg.items(), key=lambda kv: -kv[1][0]):
            print(f"   {us / 1000:8.3f} ms  {n:5d} x {us / n:8.2f} us  {name}")


if __name__ == "__main__":
    main()
