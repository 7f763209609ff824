#!/usr/bin/env python3
"""Summary of scripts/device/ab_base.sh: per (precision, KV dtype, kind, batch, context), the median step time over rounds of
the baseline and of the new tree, and new / base. Usage: ab_base_table.py DIR (holding base_r*.jsonl, new_r*.jsonl)."""
import glob, json, os, statistics, sys

root = sys.argv[1]
rows = {}
for side in ("base", "new"):
    for p in sorted(glob.glob(os.path.join(root, f"{side}_r*.jsonl"))):
        for line in open(p):
            j = json.loads(line)
            if j.get("kind") not in ("decode", "prefill") or not j.get("ms") or j.get("profileBlocks"):
                continue
            key = (j["precision"], j.get("kv_cache_dtype", "auto"), j["kind"], j.get("batch", 1),
                   j.get("context", j.get("tokens", 0)))
            rows.setdefault(key, {}).setdefault(side, []).append(j["ms"])
print(f"{'precision':12s} {'kv':4s} {'kind':8s} {'batch':>5s} {'ctx':>5s} {'base ms':>9s} {'new ms':>9s} {'new/base':>8s}  runs")
for key, per in sorted(rows.items()):
    b, n = per.get("base", []), per.get("new", [])
    mb = statistics.median(b) if b else float("nan")
    mn = statistics.median(n) if n else float("nan")
    ratio = mn / mb if b and n else float("nan")
    runs = "base " + "/".join(f"{x:.3f}" for x in b) + "  new " + "/".join(f"{x:.3f}" for x in n)
    print(f"{key[0]:12s} {key[1]:4s} {key[2]:8s} {key[3]:5d} {key[4]:5d} {mb:9.3f} {mn:9.3f} {ratio:8.3f}  {runs}")
