"""`make bench-torch`: the optimizer step of a model's size through smartinfinity (Python, ctypes,
libsmartinfinity) against the Swift trainer's step at the same size and devices, and against
torch.optim.AdamW in RAM (foreach and fused).

The Swift figure is `smartinf train`'s own: its metrics' gradient check and update phases (the
same work the library's step does: check, fleet step, compute copy back), on the GPT-2 the
`--model` spec names. The Python step runs on as many fp32 parameters, in as many tensors as that
GPT-2 has (its parameter count read from the trainer's log), with random gradients. The first
step of each is a warm-up; medians of the rest are reported, and the ratios.
"""

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

import smartinfinity


def swift_update_seconds(args, work):
    """Median seconds of the Swift trainer's check + update phases per step, and the model's
    parameter count."""
    corpus = work / "corpus"
    if not (corpus / "train.bin").exists():
        subprocess.run([args.smartinf, "corpus", "--out", str(corpus)], check=True, capture_output=True)
    metrics = work / "swift-metrics.jsonl"
    run = subprocess.run(
        [args.smartinf, "train", "--init", args.model, "--train-data", str(corpus / "train.bin"), "--steps", str(args.steps),
         "--batch", "1", "--seq", str(args.seq), "--devices", str(args.devices), "--mode", args.mode, "--dram", args.dram,
         "--ssd-dir", str(work / "ssd-swift"), "--metrics", str(metrics)],
        check=True, capture_output=True, text=True)
    found = re.search(r"model: .*?, (\d+) parameters", run.stderr)
    if not found:
        raise SystemExit(f"the trainer's log names no parameter count:\n{run.stderr}")
    records = [json.loads(line) for line in metrics.read_text().splitlines()][1:]
    phases = [r["seconds"]["grad_check"] + r["seconds"]["update"] for r in records]
    return statistics.median(phases), statistics.median(r["seconds"]["update"] for r in records), int(found.group(1))


def tensors_of(count, pieces, seed=0):
    """`count` fp32 parameters in `pieces` tensors, with random gradients."""
    g = torch.Generator().manual_seed(seed)
    sizes = [count // pieces + (1 if i < count % pieces else 0) for i in range(pieces)]
    parameters = [torch.nn.Parameter(torch.randn(n, generator=g) * 0.02) for n in sizes]
    for p in parameters:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    return parameters


def median_step_seconds(optimizer, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smartinf", required=True, help="the smartinf executable (release build)")
    parser.add_argument("--model", default="gpt2:12,12,768,1024,50257", help="GPT-2 spec whose size is measured (124M)")
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--mode", default="su+o")
    parser.add_argument("--dram", default="1GiB")
    parser.add_argument("--steps", type=int, default=5, help="steps per measurement; the first is a warm-up")
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--dir", default=None, help="work directory (SSD files of both runs; default a temporary one)")
    parser.add_argument("--save", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first is a warm-up)")
    work = Path(args.dir or tempfile.mkdtemp(prefix="smartinf-bench-torch-"))
    work.mkdir(parents=True, exist_ok=True)

    swift_check_update, swift_update, count = swift_update_seconds(args, work)
    pieces = 4 + 12 * int(args.model.split(":")[1].split(",")[0])   # about a GPT-2's tensor count
    parameters = tensors_of(count, pieces)
    with smartinfinity.AdamW(parameters, lr=1e-4, weight_decay=0.0, flavour="reference", devices=args.devices,
                             mode=args.mode, dram=args.dram, ssd_dir=str(work / "ssd-python")) as optimizer:
        library = median_step_seconds(optimizer, args.steps)
    results = {"parameters": count, "devices": args.devices, "mode": args.mode, "steps": args.steps,
               "swift_check_and_update_s": swift_check_update, "swift_update_s": swift_update, "smartinfinity_step_s": library}
    for name, options in [("torch_adamw_foreach_s", dict(foreach=True)), ("torch_adamw_fused_s", dict(fused=True))]:
        results[name] = median_step_seconds(torch.optim.AdamW(parameters, lr=1e-4, weight_decay=0.0, **options), args.steps)
    results["python_over_swift"] = library / swift_check_update

    print(f"{count} parameters, AdamW, {args.devices} device(s) in {args.mode}; median of {args.steps - 1} steps after a warm-up")
    print(f"  smartinf train, check + update   {swift_check_update:9.4f} s  (update alone {swift_update:.4f} s)")
    print(f"  smartinfinity.AdamW.step         {library:9.4f} s  ({100 * (results['python_over_swift'] - 1):+.1f}% over Swift)")
    for name, label in [("torch_adamw_foreach_s", "torch.optim.AdamW foreach (RAM)"),
                        ("torch_adamw_fused_s", "torch.optim.AdamW fused (RAM)")]:
        print(f"  {label:32s} {results[name]:9.4f} s  (smartinfinity ÷ this: {library / results[name]:.2f}×)")
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
