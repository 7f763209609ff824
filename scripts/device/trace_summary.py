#!/usr/bin/env python3
"""Summarize a block timeline trace of one decode step (QB_TRACE_FILE from a -DQB_TRACE build; see
native/src/cuda/trace.cuh): per kernel kind, averaged over the layers, where the step's time goes.

Columns (µs, mean over layers 1..L-1; the first layer follows the embedding, not a traced kernel):
  span     this kernel's last block exit - the previous traced kernel's last block exit (the step is the sum of spans)
  release  first block past the PDL wait - the previous kernel's last block exit (grid completion + memory flush)
  prolog   median over blocks of (prologue done - wait done)
  work     last block exit - first block past the wait
  tail     last block exit - median block exit
  early    the previous kernel's last exit - this kernel's first block entry (how far ahead its blocks started)
  ideal    weight bytes / BW (the linears; --bytes-per-weight 1 for 8-bit, 2 for 16-bit)

Usage: trace_summary.py FILE [FILE ...] [--bytes-per-weight N] [--bw TB/s]
"""
import argparse
import statistics
import struct
import sys

SITES = {0: "qkv", 4: "attention", 1: "o", 2: "gate_up", 3: "down"}
ORDER = [0, 4, 1, 2, 3]  # launch order within a layer
# Llama-3.1-8B weight elements per linear
WEIGHTS = {0: 6144 * 4096, 1: 4096 * 4096, 2: 28672 * 4096, 3: 4096 * 14336}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n, _cap = struct.unpack_from("<QQ", data, 0)
    recs = []
    for i in range(n):
        tag, block, smid, _pad, t0, t1, t2, t3, t4, t5 = struct.unpack_from("<IIII6Q", data, 16 + 64 * i)
        recs.append((tag, block, smid, t0, t1, t2, t3, t4, t5))
    return recs


def summarize(path, bpw, bw):
    recs = read(path)
    if not recs:
        print(f"{path}: no records (a build without -DQB_TRACE=ON, or no graph replay ran)")
        return
    by = {}
    for r in recs:
        by.setdefault(r[0], []).append(r)
    stamps = sorted({t for r in recs for t in r[3:7] if t})
    diffs = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    print(f"{path}: {len(recs)} block records, {len(by)} kernels, timer step >= {min(diffs) if diffs else '?'} ns")
    layers = sorted({t // 8 for t in by})
    seq = [(l, s) for l in layers for s in ORDER if l * 8 + s in by]
    rows = {s: [] for s in ORDER}
    prev_end = None
    for l, s in seq:
        rs = by[l * 8 + s]
        start = min(r[3] for r in rs)
        waited = [r[4] for r in rs if r[4]]
        release = min(waited) if waited else start
        pro = [r[5] - r[4] for r in rs if r[5] and r[4]]
        ends = sorted(r[6] for r in rs)
        end = ends[-1]
        if prev_end is not None and l >= 1:
            rows[s].append(
                dict(span=end - prev_end, release=release - prev_end, prolog=statistics.median(pro) if pro else 0,
                     work=end - release, tail=end - statistics.median(ends), early=prev_end - start,
                     blocks=len(rs)))
        prev_end = end
    first = min(r[3] for r in recs)
    last = max(r[6] for r in recs)
    print(f"  traced kernels from first entry to last exit: {(last - first) / 1e3:.1f} us over {len(layers)} layers")
    hdr = f"  {'kernel':10} {'blocks':>6} {'span':>7} {'release':>8} {'prolog':>7} {'work':>7} {'tail':>6} {'early':>7} {'ideal':>6}"
    print(hdr)
    tot = 0.0
    for s in ORDER:
        if not rows[s]:
            continue
        m = {k: statistics.mean(r[k] for r in rows[s]) / (1 if k == "blocks" else 1e3) for k in rows[s][0]}
        ideal = WEIGHTS[s] * bpw / (bw * 1e12) * 1e6 if s in WEIGHTS else 0.0
        tot += m["span"]
        print(f"  {SITES[s]:10} {m['blocks']:6.0f} {m['span']:7.2f} {m['release']:8.2f} {m['prolog']:7.2f} "
              f"{m['work']:7.2f} {m['tail']:6.2f} {m['early']:7.2f} {ideal:6.2f}")
    print(f"  {'layer':10} {'':6} {tot:7.2f}")
    # Attention's active blocks (those that ran KV steps): median phase times after the wait.
    act = [r for l in layers for r in by.get(l * 8 + 4, []) if r[5] and r[4] and l >= 1]
    if act:
        med = lambda xs: statistics.median(xs) / 1e3
        step1 = med([r[7] - r[4] for r in act if r[7]])
        steps = med([r[5] - r[4] for r in act])
        merge = med([r[8] - r[5] for r in act if r[8]])
        out = med([r[6] - r[8] for r in act if r[8]])
        print(f"  attention active blocks ({len(act) // max(1, len(layers) - 1)} per layer), median us after the wait: "
              f"first step {step1:.2f}, all steps {steps:.2f}, warp merge +{merge:.2f}, output +{out:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--bytes-per-weight", type=float, default=1.0)
    ap.add_argument("--bw", type=float, default=3.0, help="TB/s for the ideal column")
    a = ap.parse_args()
    for f in a.files:
        summarize(f, a.bytes_per_weight, a.bw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
