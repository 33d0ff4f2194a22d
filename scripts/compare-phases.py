#!/usr/bin/env python3
"""Median seconds per phase of `smartinf train --metrics` files, side by side, and each run's ratio
to the first's: `make big` compares its fp32-state and 8-bit-state runs with it.

    scripts/compare-phases.py LABEL=METRICS.jsonl [LABEL=METRICS.jsonl ...]

The first step of each run is left out (it warms the page cache and the devices' buffers).
Non-finite numbers, which the metrics write as strings, read as such.
"""
import json
import statistics
import sys

PHASES = [("fw", "forward"), ("bw", "backward"), ("grad_check", "gradient check"), ("update", "update")]


def read(path):
    records = [json.loads(line) for line in open(path) if line.strip()]
    if len(records) < 2:
        sys.exit(f"{path}: {len(records)} step(s); at least 2 are needed (the first is a warm-up)")
    return records[1:]


def main(arguments):
    if not arguments or any("=" not in a for a in arguments):
        sys.exit(__doc__)
    runs = [(label, read(path)) for label, path in (a.split("=", 1) for a in arguments)]
    medians = {label: {key: statistics.median(float(r["seconds"][key]) for r in records) for key, _ in PHASES}
               for label, records in runs}
    first = runs[0][0]
    print(f"{'phase (median s, steps 2..)':<28}" + "".join(f"{label:>12}" for label, _ in runs)
          + "".join(f"{label + ' ÷ ' + first:>18}" for label, _ in runs[1:]))
    for key, name in PHASES + [("total", "all phases")]:
        values = [sum(medians[label].values()) if key == "total" else medians[label][key] for label, _ in runs]
        ratios = [v / values[0] if values[0] else float("nan") for v in values[1:]]
        print(f"{name:<28}" + "".join(f"{v:>12.3f}" for v in values) + "".join(f"{r:>17.2f}×" for r in ratios))


if __name__ == "__main__":
    main(sys.argv[1:])
