#!/usr/bin/env python3
"""Markdown tables for a results/gpu-h100-* README from a record's files:
gpu_check.json (GPU vs CPU), gpu_latency*.jsonl (decode / prefill), optionally fused_layer.jsonl.
Usage: python3 scripts/device/results_tables.py RESULTS_DIR"""
import json
import os
import sys

d = sys.argv[1]


def rows(name):
    p = os.path.join(d, name)
    return [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []


chk = json.load(open(os.path.join(d, "gpu_check.json")))
print(f"## GPU vs CPU reference, end to end (`gpu_check.json`: {len(chk['rows']) - chk['failed']} passed, "
      f"{chk['failed']} failed)\n")
print("| model | precision | KL(cpu‖gpu) | top-1 | bound KL / top-1 | CPU's own KL vs fp16 |")
print("|---|---|---|---|---|---|")
for r in chk["rows"]:
    if r["check"] != "logits":
        continue
    own = f"{r['cpuKlVsFp16']:.1e}" if r.get("cpuKlVsFp16") is not None else "–"
    print(f"| {r['model']} | {r['precision']} | {r['meanKl']:.1e} | {100 * r['top1']:.1f}% | "
          f"{r['klBound']:.1e} / {100 * r['topBound']:.1f}% | {own} |")

lat = rows("gpu_latency.jsonl")
u97 = {(r["precision"], r["batch"], r["context"]): r for r in rows("gpu_latency_util97.jsonl") if r.get("kind") == "decode"}
unf = {(r["precision"], r["batch"], r["context"]): r for r in rows("gpu_latency_unfused.jsonl") if r.get("kind") == "decode"}
print("\n| precision | batch | context | step ms | unfused ms | roofline ms | ratio | out tok/s | "
      "attention / mlp / quant / other ms (eager, unfused, profiled) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in lat:
    if r.get("kind") != "decode":
        continue
    key = (r["precision"], r["batch"], r["context"])
    note = ""
    if "ms" not in r and key in u97:
        r, note = u97[key], " (gpuMemoryUtilization 0.97)"
    if "ms" not in r:
        print(f"| {key[0]} | {key[1]} | {key[2]} | – | – | – | – | – | not run: {r.get('skipped', '')} |")
        continue
    b = r.get("blocksMs") or {}
    blk = " / ".join(f"{b.get(k, 0):.2f}" for k in ("attention", "mlp", "quantization", "other"))
    u = f"{unf[key]['ms']:.2f}" if key in unf else "–"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {r['ms']:.2f} | {u} | {r['rooflineMs']:.2f} | {r['rooflineRatio']:.2f} | "
          f"{r['tokPerS']:.0f} | {blk}{note} |")

print("\n| precision | 2048-token prefill ms | roofline ms | ratio | TFLOP/s | attention / mlp / quant / other ms |")
print("|---|---|---|---|---|---|")
for r in lat:
    if r.get("kind") == "prefill":
        b = r.get("blocksMs") or {}
        blk = " / ".join(f"{b.get(k, 0):.1f}" for k in ("attention", "mlp", "quantization", "other"))
        print(f"| {r['precision']} | {r['ms']:.2f} | {r['rooflineMs']:.1f} | {r['rooflineRatio']:.2f} | "
              f"{r['tflops']:.0f} | {blk} |")

fl = rows("fused_layer.jsonl")
# The harness's rows carry the card's ceilings from native/device_ceilings.json (peakTBs; records before the native/
# redesign: the H100's 3.0); with the record's own ceilings.json the roofline column is recomputed against the copy
# bandwidth measured in that call.
cpath = os.path.join(d, "ceilings.json")
copy = json.load(open(cpath)).get("copyTBs") if os.path.exists(cpath) else None


def roof(r):
    return r["achievedTBs"] / copy if copy else r["rooflineRatio"]


if fl:
    head = f"roofline (vs {copy:.2f} TB/s)" if copy else "roofline"
    print(f"\n| one layer's linears, M = 1, with PDL | kernels | µs | TB/s | {head} |")
    print("|---|---|---|---|---|")
    for r in fl:
        if r.get("op") == "layer-linears":
            print(f"| {r['precision']} | {r['kernel']} | {r['medianUs']:.1f} | {r['achievedTBs']:.2f} | "
                  f"{100 * roof(r):.1f}% |")
    per = [r for r in fl if r.get("op") == "fused-linear"]
    if per:
        print(f"\n| each fused linear alone, M = 1, back to back | linear | µs | TB/s | {head} |")
        print("|---|---|---|---|---|")
        for r in per:
            print(f"| {r['precision']} | {r['shape']} | {r['medianUs']:.1f} | {r['achievedTBs']:.2f} | "
                  f"{100 * roof(r):.1f}% |")
