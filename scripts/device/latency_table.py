#!/usr/bin/env python3
"""Compact table of gpu_latency.jsonl rows (`pnpm bench latency`): precision, kind, batch, context, ms, roofline ratio
(decode: also the ratio to the bound of its parts)."""
import json
import sys

for path in sys.argv[1:]:
    try:
        rows = [json.loads(l) for l in open(path) if l.strip()]
    except OSError as e:
        print(f"{path}: {e}")
        continue
    for r in rows:
        roof = f"  roofline {r['rooflineRatio']:.2f}" if "rooflineRatio" in r else "  (no roofline)"
        if "boundRatio" in r:  # each part at max(bytes, FLOPs): the most of the roofline reachable
            roof += f"  of bound {r['boundRatio']:.2f}" + (f" ({'+'.join(r['computeBound'])} compute-bound)" if r.get("computeBound") else "")
        if r.get("kind") == "decode":
            ms = r.get("ms")
            print(f"{r['precision']:12s} decode b{r['batch']:<4d} ctx{r['context']:<5d} "
                  + (f"{ms:7.3f} ms{roof}" if ms else r.get("skipped", "")))
        elif r.get("kind") == "prefill":
            print(f"{r['precision']:12s} prefill {r['tokens']} {r['ms']:7.2f} ms{roof}")
