#!/usr/bin/env python3
"""Read an lm-eval results file (results_<date>.json) with lm-eval's documented field names only.

Usage: python3 scripts/compat/read_lm_eval_results.py RESULTS.json|DIR
A DIR is searched (recursively) for the newest results_*.json, as lm-eval writes under --output_path.
Prints one line per task and group: the "<metric>,<filter>" value, its "<metric>_stderr,<filter>", n-shot and
n-samples; exits 1 when a field lm-eval writes is missing. Standard library only (what an lm-eval user's tooling
would do with the file: nothing quantbench-specific).
"""
import glob
import json
import os
import sys

REQUIRED = ["results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config"]


def newest_results(path):
    if os.path.isfile(path):
        return path
    files = sorted(glob.glob(os.path.join(path, "**", "results_*.json"), recursive=True), key=os.path.getmtime)
    if not files:
        sys.exit(f"no results_*.json under {path}")
    return files[-1]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    f = newest_results(sys.argv[1])
    with open(f, encoding="utf-8") as fh:
        r = json.load(fh)
    missing = [k for k in REQUIRED if k not in r]
    if missing:
        print(f"{f}: missing lm-eval fields: {', '.join(missing)}")
        sys.exit(1)
    print(f"file {os.path.basename(f)} model {r.get('model_name')} limit {r['config'].get('limit')}")
    for task, metrics in r["results"].items():
        kind = "group" if task in r["groups"] else "task"
        for key, value in metrics.items():
            if key == "alias" or "_stderr," in key:
                continue
            name, filt = key.split(",", 1)
            stderr = metrics.get(f"{name}_stderr,{filt}", "N/A")
            hib = r["higher_is_better"].get(task, {}).get(name)
            shots = r["n-shot"].get(task, "")
            ns = r["n-samples"].get(task, {})
            stderr_s = f"{stderr:.4f}" if isinstance(stderr, (int, float)) else str(stderr)
            print(f"{kind} {task} {name},{filt} = {value:.4f} ± {stderr_s} n-shot={shots} "
                  f"n-samples={ns.get('effective', '')}/{ns.get('original', '')} higher_is_better={hib} "
                  f"subtasks={len(r['group_subtasks'].get(task, []))}")


if __name__ == "__main__":
    main()
