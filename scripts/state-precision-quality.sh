#!/usr/bin/env bash
# Trains the `make run` configuration (GPT-2 4 layers, 256 channels, 400 steps, su+o+c on 4
# devices) with fp32 and with 8-bit optimizer states, on the same data and initialisation, once
# per batch order in SEEDS (default "42 7 2026": --shuffle-seed), and prints the loss curves'
# gaps per seed and their spread. One pair of runs decides little: at a high learning rate with
# small batches both precisions have one-step loss spikes that land on different steps, so a
# single comparison mostly measures where they fell. Not part of `make test` (about a minute per
# run on 2 cores at the default size).
#
#   [SEEDS="42 7"] scripts/state-precision-quality.sh [OUT_DIR] [extra train arguments...]
#
# OUT_DIR defaults to out/state-precision; extra arguments go to every run (e.g. --steps 100;
# a later option overrides the default one).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/state-precision}
shift || true
SEEDS=${SEEDS:-42 7 2026}
BIN=.build/release/smartinf
if [ ! -x "$BIN" ]; then
    swift build -c release -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native --product smartinf
    swift build -c release -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native --product smartssd
fi
mkdir -p "$OUT"
[ -f "$OUT/corpus/train.bin" ] || "$BIN" corpus --out "$OUT/corpus"
for seed in $SEEDS; do
    for states in fp32 8bit; do
        echo "== --shuffle-seed $seed --state-precision $states"
        "$BIN" train --init gpt2:4,8,256,64,256 --train-data "$OUT/corpus/train.bin" \
            --val-data "$OUT/corpus/val.bin" --val-every 100 --steps 400 --batch 8 --seq 64 \
            --lr 1e-3 --lr-schedule cosine --warmup 20 --min-lr 1e-4 --mode su+o+c --topk-ratio 0.1 \
            --devices 4 --dram 64MiB --ssd-dir "/var/tmp/smartinf-quality-$states" --blas-threads 2 \
            --shuffle-seed "$seed" --state-precision "$states" --metrics "$OUT/metrics-$seed-$states.jsonl" "$@" \
            > "$OUT/train-$seed-$states.log"
        tail -1 "$OUT/train-$seed-$states.log"
        rm -rf "/var/tmp/smartinf-quality-$states"
    done
done
python3 scripts/compare-losses.py "$OUT" $SEEDS
