#!/usr/bin/env bash
# Trains the `make run` configuration (GPT-2 4 layers, 256 channels, 400 steps, su+o+c on 4
# devices) twice, with fp32 and with 8-bit optimizer states, on the same data and seed, and prints
# both loss curves and their gap. Not part of `make test` (about a minute per run on 2 cores).
#
#   scripts/state-precision-quality.sh [OUT_DIR]        (default out/state-precision)
#
# Extra arguments after OUT_DIR go to both runs (e.g. --steps 100).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/state-precision}
shift || true
BIN=.build/release/smartinf
if [ ! -x "$BIN" ]; then
    swift build -c release -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native --product smartinf
    swift build -c release -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native --product smartssd
fi
mkdir -p "$OUT"
[ -f "$OUT/corpus/train.bin" ] || "$BIN" corpus --out "$OUT/corpus"
for states in fp32 8bit; do
    echo "== --state-precision $states"
    "$BIN" train --init gpt2:4,8,256,64,256 --train-data "$OUT/corpus/train.bin" \
        --val-data "$OUT/corpus/val.bin" --val-every 100 --steps 400 --batch 8 --seq 64 \
        --lr 1e-3 --lr-schedule cosine --warmup 20 --min-lr 1e-4 --mode su+o+c --topk-ratio 0.1 \
        --devices 4 --dram 64MiB --ssd-dir "/var/tmp/smartinf-quality-$states" --blas-threads 2 \
        --state-precision "$states" --metrics "$OUT/metrics-$states.jsonl" "$@" > "$OUT/train-$states.log"
    tail -1 "$OUT/train-$states.log"
    rm -rf "/var/tmp/smartinf-quality-$states"
done
python3 - "$OUT/metrics-fp32.jsonl" "$OUT/metrics-8bit.jsonl" <<'PY'
import json, sys

def read(path):
    return [json.loads(line) for line in open(path) if line.strip()]

fp32, int8 = read(sys.argv[1]), read(sys.argv[2])
assert [r["step"] for r in fp32] == [r["step"] for r in int8], "the runs took different steps"
window = 20
print(f"{'steps':>9}  {'fp32 loss':>9}  {'8bit loss':>9}  {'gap':>7}   (means over {window} steps)")
gaps = []
for start in range(0, len(fp32), window):
    a = [r["loss"] for r in fp32[start:start + window]]
    b = [r["loss"] for r in int8[start:start + window]]
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    gaps.append(mb - ma)
    print(f"{fp32[start]['step']:>4}-{fp32[start + len(a) - 1]['step']:<4}  {ma:9.4f}  {mb:9.4f}  {mb - ma:+7.4f}")
step_gaps = [b["loss"] - a["loss"] for a, b in zip(fp32, int8)]
print(f"max |gap| of one step's loss: {max(map(abs, step_gaps)):.4f} (step {fp32[max(range(len(step_gaps)), key=lambda i: abs(step_gaps[i]))]['step']})")
print(f"max |gap| of {window}-step means: {max(map(abs, gaps)):.4f}; final {window}-step mean gap: {gaps[-1]:+.4f} "
      f"({100 * gaps[-1] / (sum(r['loss'] for r in fp32[-window:]) / window):+.2f}%)")
vals = [(a["step"], a["val_loss"], b["val_loss"]) for a, b in zip(fp32, int8) if a.get("val_loss") is not None]
for step, a, b in vals:
    print(f"val loss at step {step}: fp32 {a:.4f}, 8bit {b:.4f}, gap {b - a:+.4f} ({100 * (b - a) / a:+.2f}%)")
PY
