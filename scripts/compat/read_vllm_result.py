#!/usr/bin/env python3
"""Read a `vllm bench serve --save-result` file with vLLM's field names only.

Usage: python3 scripts/compat/read_vllm_result.py RESULT.json
Prints the throughputs and every mean_/median_/std_/p<P>_<metric>_ms field, and the per-request lists when the file
was written with --save-detailed; exits 1 when a field vLLM always writes is missing. Standard library only.
"""
import json
import re
import sys

REQUIRED = ["date", "backend", "model_id", "num_prompts", "request_rate", "burstiness", "max_concurrency", "duration",
            "completed", "failed", "total_input_tokens", "total_output_tokens", "request_throughput",
            "output_throughput", "total_token_throughput"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as fh:
        r = json.load(fh)
    missing = [k for k in REQUIRED if k not in r]
    if missing:
        print(f"missing vLLM fields: {', '.join(missing)}")
        sys.exit(1)
    print(f"model {r['model_id']} rate {r['request_rate']} completed {r['completed']} failed {r['failed']} "
          f"duration {r['duration']:.3f}s")
    print(f"request_throughput {r['request_throughput']:.3f} output_throughput {r['output_throughput']:.3f} "
          f"total_token_throughput {r['total_token_throughput']:.3f}")
    for k in sorted(r):
        if re.fullmatch(r"(mean|median|std|p[0-9.]+)_[a-z0-9_]+_ms", k):
            print(f"{k} {r[k]:.3f}")
    if "ttfts" in r:
        n = len(r["ttfts"])
        assert len(r["itls"]) == n and len(r["input_lens"]) == n and len(r["output_lens"]) == n
        print(f"detailed: {n} requests, first ttft {r['ttfts'][0]:.6f}s, itls of request 0: {len(r['itls'][0])}")


if __name__ == "__main__":
    main()
