#!/usr/bin/env python3
"""Summary of scripts/device/ab_base.sh: per (precision, KV dtype, kind, batch, context), the median step time over rounds of
the baseline and of the new tree, and new / base; then per run the SM clock and power while it timed (smi_*.csv from
nvidia-smi, when ab_base.sh could sample them). Usage: ab_base_table.py DIR (holding base_r*.jsonl, new_r*.jsonl)."""
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

# Clocks: per run, the median SM clock and power over the samples where the GPU drew more than idle power, and how
# many of them carried the software power cap (clock event reason 0x4).
smi = sorted(glob.glob(os.path.join(root, "smi_*.csv")))
if smi:
    print(f"\n{'run':10s} {'samples':>7s} {'SM MHz p50':>10s} {'min':>6s} {'W p50':>7s} {'power-capped':>12s}")
for p in smi:
    mhz, watts, capped = [], [], 0
    for line in open(p):
        f = [x.strip() for x in line.split(",")]
        try:
            c, w, reasons = float(f[1].split()[0]), float(f[2].split()[0]), int(f[3], 16)
        except (IndexError, ValueError):
            continue
        if w < 200:  # idle between forwards or before the first
            continue
        mhz.append(c)
        watts.append(w)
        capped += 1 if reasons & 0x4 else 0
    name = os.path.basename(p)[4:-4]
    if not mhz:
        print(f"{name:10s} {0:7d}")
        continue
    print(f"{name:10s} {len(mhz):7d} {statistics.median(mhz):10.0f} {min(mhz):6.0f} {statistics.median(watts):7.0f} {capped:12d}")
