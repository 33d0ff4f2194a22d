#!/usr/bin/env bash
# One offloaded AdamW step over N parameters on this disk, side by side: DeepSpeed's aio +
# CPUAdam (ZeRO-Infinity's NVMe optimizer path: per sub-group, read p, m, v and the fp32
# gradient, update on the CPU, write p, m, v back; pipelined, 8 configurations, its best
# reported) against `smartinf bench device`'s overlap handler with fp32 and with 8-bit states.
# The issue-18 goal: ours with 8-bit states at least 1.5x DeepSpeed's best, same disk, same run.
#
#   scripts/deepspeed-compare.sh [PARAMS] [DIR]     (default 256M, /var/tmp/smartinf-ds-compare)
#
# Not part of `make test`. It installs DeepSpeed, numpy, ninja and torch's CPU wheel into a
# scratch venv ($VENV, default /var/tmp/smartinf-deepspeed-venv) and libaio-dev with apt (as
# root); DeepSpeed JIT-builds its cpu_adam and async_io ops on first use (about 4 minutes).
# Needs about 2 x 16 bytes a parameter of disk for DeepSpeed's files and 3 x 16 for ours.
set -euo pipefail
cd "$(dirname "$0")/.."
PARAMS=${1:-256M}
DIR=${2:-/var/tmp/smartinf-ds-compare}
VENV=${VENV:-/var/tmp/smartinf-deepspeed-venv}
ROUNDS=${ROUNDS:-3}

if ! dpkg -s libaio-dev > /dev/null 2>&1; then apt-get install -y libaio-dev; fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install "torch==2.13.*" numpy ninja
    "$VENV/bin/pip" install --no-build-isolation deepspeed
fi
export PATH="$VENV/bin:$PATH"   # ninja, for DeepSpeed's JIT builds
BIN=.build/release/smartinf
[ -x "$BIN" ] || swift build -c release -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native --product smartinf
mkdir -p "$DIR"

"$VENV/bin/python" - "$PARAMS" "$DIR/deepspeed" "$ROUNDS" "$DIR/deepspeed.json" <<'PY'
"""DeepSpeed's offloaded AdamW step: per sub-group, p, m, v and the fp32 gradient from their own
files (O_DIRECT through deepspeed's aio handle), DeepSpeedCPUAdam's kernel, p, m, v back. The
next sub-group's reads run while this one is updated and the previous one's writes drain (two
aio handles), as ZeRO-Infinity's pipelined NVMe swapper does."""
import json, os, sys, time
import torch
from deepspeed.ops.op_builder import AsyncIOBuilder, CPUAdamBuilder

def count(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)

n, directory, rounds, out = count(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.makedirs(directory, exist_ok=True)
aio = AsyncIOBuilder().load()
adam = CPUAdamBuilder().load()
adam.create_adam(0, 1e-3, 0.9, 0.999, 1e-8, 0.01, True, False)

def pinned(elements):
    return torch.zeros(elements, dtype=torch.float32).pin_memory() if torch.cuda.is_available() else torch.zeros(elements, dtype=torch.float32)

def run(subgroup, queue_depth, pipelined):
    groups = [(s, min(subgroup, n - s)) for s in range(0, n, subgroup)]
    files = lambda g, name: f"{directory}/{name}-{g}.f32"
    buffers = [[pinned(subgroup) for _ in range(4)] for _ in range(2 if pipelined else 1)]
    reader = aio.aio_handle(1 << 20, queue_depth, False, True, 1)
    writer = aio.aio_handle(1 << 20, queue_depth, False, True, 1)
    for g, (_, size) in enumerate(groups):   # files of the right size, written once
        for name, b in zip("pmvg", buffers[0]):
            writer.sync_pwrite(b[:size], files(g, name))
    samples = []
    for step in range(1, rounds + 2):
        os.sync()
        start = time.perf_counter()
        def read(g):
            for name, b in zip("pmvg", buffers[g % len(buffers)]):
                reader.async_pread(b[:groups[g][1]], files(g, name))
        read(0)
        writing = False                  # deepspeed's aio handle asserts on a wait with nothing pending
        for g, (_, size) in enumerate(groups):
            reader.wait()
            if pipelined and g + 1 < len(groups):
                if writing:
                    writer.wait()        # the set about to be read into was written back
                    writing = False
                read(g + 1)
            p, m, v, grad = (b[:size] for b in buffers[g % len(buffers)])
            adam.adam_update(0, step, 1e-3, 0.9, 0.999, 1e-8, 0.01, True, p, grad, m, v)
            for name, b in zip("pmv", (p, m, v)):
                writer.async_pwrite(b, files(g, name))
            writing = True
            if not pipelined:
                writer.wait()
                writing = False
                if g + 1 < len(groups):
                    read(g + 1)
        if writing:
            writer.wait()
        os.sync()
        if step > 1:                     # the first round warms up
            samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]

rows = []
for subgroup in (8 << 20, 32 << 20):
    for queue_depth in (8, 32):
        for pipelined in (False, True):
            seconds = run(min(subgroup, n), queue_depth, pipelined)
            rows.append({"subgroup": subgroup, "queue_depth": queue_depth, "pipelined": pipelined, "seconds": seconds,
                         "parameters_per_second": n / seconds})
            print(json.dumps(rows[-1]), file=sys.stderr)
# To a file: DeepSpeed logs to standard output.
with open(out, "w") as f:
    json.dump({"parameters": n, "rows": rows}, f)
PY
rm -rf "$DIR/deepspeed"

for states in fp32 8bit; do
    "$BIN" bench device --params "$PARAMS" --handler overlap --state-precision "$states" --repetitions "$ROUNDS" \
        --dir "$DIR/ours" --json > "$DIR/ours-$states.json"
done

python3 - "$DIR/deepspeed.json" "$DIR/ours-fp32.json" "$DIR/ours-8bit.json" <<'PY'
import json, sys
deepspeed = json.load(open(sys.argv[1]))
best = max(deepspeed["rows"], key=lambda r: r["parameters_per_second"])
print(f"DeepSpeed aio + CPUAdam, best of {len(deepspeed['rows'])}: {best['parameters_per_second'] / 1e6:.1f} M params/s "
      f"(sub-groups of {best['subgroup']}, queue depth {best['queue_depth']}, pipelined {best['pipelined']})")
for path in sys.argv[2:]:
    row = json.load(open(path))["rows"][0]
    print(f"ours, {row['states']} states: {row['parametersPerSecond'] / 1e6:.1f} M params/s, {row['ratioToFloor']:.2f}x its I/O floor, "
          f"{row['bytesVersusFP32']:.2f} of fp32's bytes: {row['parametersPerSecond'] / best['parameters_per_second']:.2f}x DeepSpeed's best")
PY
