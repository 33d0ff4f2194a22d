#!/usr/bin/env python3
"""Compares the fp32-state and 8-bit-state runs `state-precision-quality.sh` wrote into OUT_DIR,
one pair per seed: the 20-step mean training losses and their gap, the largest one-step gap,
the validation losses, and over all seeds the mean and range of the final validation gap.

    scripts/compare-losses.py OUT_DIR SEED...
"""
import json
import sys

WINDOW = 20


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def compare(out, seed):
    fp32, int8 = read(f"{out}/metrics-{seed}-fp32.jsonl"), read(f"{out}/metrics-{seed}-8bit.jsonl")
    if [r["step"] for r in fp32] != [r["step"] for r in int8]:
        sys.exit(f"seed {seed}: the two runs took different steps")
    print(f"-- seed {seed}")
    print(f"{'steps':>9}  {'fp32 loss':>9}  {'8bit loss':>9}  {'gap':>7}   (means over {WINDOW} steps)")
    for start in range(0, len(fp32), WINDOW):
        a = [r["loss"] for r in fp32[start:start + WINDOW]]
        b = [r["loss"] for r in int8[start:start + WINDOW]]
        ma, mb = sum(a) / len(a), sum(b) / len(b)
        print(f"{fp32[start]['step']:>4}-{fp32[start + len(a) - 1]['step']:<4}  {ma:9.4f}  {mb:9.4f}  {mb - ma:+7.4f}")
    for name, run in (("fp32", fp32), ("8bit", int8)):
        worst = max(run[1:], key=lambda r: r["loss"])
        print(f"highest {name} loss after step 1: {worst['loss']:.3f} (step {worst['step']})")
    vals = [(a["step"], a["val_loss"], b["val_loss"]) for a, b in zip(fp32, int8) if a.get("val_loss") is not None]
    for step, a, b in vals:
        print(f"val loss at step {step}: fp32 {a:.4f}, 8bit {b:.4f}, gap {b - a:+.4f} ({100 * (b - a) / a:+.2f}%)")
    return 100 * (vals[-1][2] - vals[-1][1]) / vals[-1][1] if vals else None


def main():
    out, seeds = sys.argv[1], sys.argv[2:]
    gaps = [g for g in (compare(out, seed) for seed in seeds) if g is not None]
    if gaps:
        print(f"final validation gap over {len(gaps)} seed(s): mean {sum(gaps) / len(gaps):+.2f}%, "
              f"range {min(gaps):+.2f}% … {max(gaps):+.2f}%")


main()
