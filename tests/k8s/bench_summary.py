#!/usr/bin/env python3
"""Prints the median and mean of each operation of critest's lifecycle benchmarks.

Usage: bench_summary.py HANDLER DIR

DIR is critest's -benchmarking-output-dir: JSON files with "operationsNames" and
"datapoints" (each with "operationsDurationsNs", in the order of the names). Exits 1 if
there is no result.
"""
import json
import os
import statistics
import sys


def main():
    handler, out = sys.argv[1], sys.argv[2]
    found = False
    for name in sorted(os.listdir(out)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(out, name)) as f:
            data = json.load(f)
        ops = data.get("operationsNames") or []
        points = [p["operationsDurationsNs"] for p in data.get("datapoints") or []
                  if len(p.get("operationsDurationsNs") or []) == len(ops)]
        if not ops or not points:
            continue
        found = True
        print(f"{handler}: {name} ({len(points)} lifecycles)")
        for i, op in enumerate(ops):
            ms = [p[i] / 1e6 for p in points]
            print(f"  {op:<28} median {statistics.median(ms):8.1f} ms   mean {statistics.mean(ms):8.1f} ms")
        total = [sum(p) / 1e6 for p in points]
        print(f"  {'whole lifecycle':<28} median {statistics.median(total):8.1f} ms   mean {statistics.mean(total):8.1f} ms")
    if not found:
        print(f"{handler}: no benchmark results in {out}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
