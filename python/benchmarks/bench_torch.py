"""`make bench-torch`: the optimizer step through smartinfinity (Python, ctypes, libsmartinfinity)
against the Swift trainer's update at the same size, interleaved in pairs, and torch.optim.AdamW
in RAM (foreach and fused) in the same run.

What each side times (docs/BENCHMARKS.md):
- Python: wall time around `smartinfinity.AdamW.step()`: the Python layer's checks and its
  ctypes call, then in the library the gradient hand-in (the gradients already lie in the
  library's flat buffer, so nothing is copied), the overflow check and norm, the fleet step (every
  payload written, the devices' update, the new compute copy written back), the copy-back into
  the parameters (which live in the library's compute copy, so nothing is copied) and the
  session journal's record.
- Swift: `smartinf train --no-early-gradient-writes`'s own phases grad_check + update (its
  --metrics): the gradient scan and the update's preparation, then the same fleet step and the
  compute copy read into the model. The flag makes the trainer write every gradient payload in
  the update, as the library's step does, instead of during backward.

A pair is one block of each side: a fresh optimizer, or a fresh trainer process, on the same
parameter count, devices, mode, DRAM and file system; one warm-up step, then `--steps` timed
steps, whose median is the block's figure. The order alternates (Swift first, then Python first,
...), so neither side always runs after the other. A pair's ratio is its Python figure over its
Swift one: neighbours in time share the machine's state, which drifts by more than 5% over
minutes on a shared 2-core machine. Reported: the median ratio and its interquartile range, and
throughput (parameters per second) of both sides and of torch.optim.AdamW foreach and fused
stepping as many parameters in RAM (a block of each per pair).
"""

import argparse
import json
import math
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

import smartinfinity

#: The figures reported, by the names the JSON gives them, and how the table labels them.
SIDES = {
    "smartinfinity_step": "smartinfinity.AdamW.step",
    "swift_check_and_update": "smartinf train grad_check + update",
    "torch_adamw_foreach": "torch.optim.AdamW foreach (RAM)",
    "torch_adamw_fused": "torch.optim.AdamW fused (RAM)",
}


def gpt2_shapes(spec, count):
    """The tensor shapes of llm.c's GPT-2 `spec` (gpt2:L,H,C,T,V) with `count` parameters, the
    count the trainer reported: wte's rows are the padded vocabulary, read off the count."""
    layers, _, c, t, _ = (int(x) for x in spec.split(":", 1)[1].split(","))
    layer = [(c,), (c,), (3 * c, c), (3 * c,), (c, c), (c,), (c,), (c,), (4 * c, c), (4 * c,), (c, 4 * c), (c,)]
    rest = t * c + layers * sum(math.prod(s) for s in layer) + 2 * c
    rows, remainder = divmod(count - rest, c)
    if remainder or rows <= 0:
        raise SystemExit(f"{count} parameters are not a GPT-2 {spec} (the trainer's count, less {rest} outside wte, "
                         f"is not a whole number of rows of {c})")
    return [(rows, c), (t, c)] + layer * layers + [(c,), (c,)]


def tensors_of(shapes, seed):
    """fp32 parameters of these shapes, with random gradients."""
    g = torch.Generator().manual_seed(seed)
    parameters = [torch.nn.Parameter(torch.randn(shape, generator=g) * 0.02) for shape in shapes]
    for p in parameters:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    return parameters


def timed(step, steps):
    """The median seconds of `steps` calls of `step` after one untimed warm-up call."""
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(command):
    """Runs `command`; its standard error, or exits naming the failure."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stderr}")
    return done.stderr


class SwiftSide:
    """Blocks of `smartinf train` on a GPT-2 `--model`: a fresh process each."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.corpus = work / "corpus"
        if not (self.corpus / "train.bin").exists():
            run([args.smartinf, "corpus", "--out", self.corpus])

    def block(self):
        """(median grad_check + update, median update alone, the model's parameter count)."""
        a, metrics = self.args, self.work / "swift-metrics.jsonl"
        metrics.unlink(missing_ok=True)   # --metrics appends
        log = run([a.smartinf, "train", "--init", a.model, "--train-data", self.corpus / "train.bin", "--steps", a.steps + 1,
                   "--batch", 1, "--seq", a.seq, "--devices", a.devices, "--mode", a.mode, "--dram", a.dram,
                   "--ssd-dir", self.work / "ssd-swift", "--metrics", metrics, "--no-early-gradient-writes"])
        found = re.search(r"model: .*?, (\d+) parameters", log)
        if not found:
            raise SystemExit(f"the trainer's log names no parameter count:\n{log}")
        records = [json.loads(line)["seconds"] for line in metrics.read_text().splitlines()][1:]   # after the warm-up
        return (statistics.median(r["grad_check"] + r["update"] for r in records),
                statistics.median(r["update"] for r in records), int(found.group(1)))


def python_block(args, parameters, work):
    """The median seconds of smartinfinity.AdamW.step on `parameters`, on fresh devices."""
    with smartinfinity.AdamW(parameters, lr=1e-4, weight_decay=0.0, flavour="reference", devices=args.devices,
                             mode=args.mode, dram=args.dram, ssd_dir=str(work / "ssd-python")) as optimizer:
        return timed(optimizer.step, args.steps)


def file_system(path):
    """The type of the file system `path` is on (/proc/self/mounts' longest mount point above it)."""
    path, best = str(Path(path).resolve()), ("", "unknown")
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, kind = line.split()[:3]
        if (path + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[0]):
            best = (mount, kind)
    return best[1]


def summary(values):
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": median, "q1": q1, "q3": q3, "min": min(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smartinf", required=True, help="the smartinf executable (a release build, to time)")
    parser.add_argument("--model", default="gpt2:12,12,768,1024,50257", help="GPT-2 spec whose size is measured (124M)")
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--mode", default="su+o")
    parser.add_argument("--dram", default="1GiB", help="DRAM per device")
    parser.add_argument("--pairs", type=int, default=10, help="Python/Swift pairs")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per block (after one warm-up step)")
    parser.add_argument("--seq", type=int, default=64, help="the trainer's sequence length (its forward and backward are not timed)")
    parser.add_argument("--dir", default=None, help="work directory: the corpus and both sides' SSD files (default a temporary one)")
    parser.add_argument("--save", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.pairs < 2:
        parser.error("--pairs must be at least 2 (the ratios' quartiles)")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    work = Path(args.dir or tempfile.mkdtemp(prefix="smartinf-bench-torch-"))
    work.mkdir(parents=True, exist_ok=True)

    swift = SwiftSide(args, work)
    parameters = foreach = fused = None
    pairs = []
    for i in range(args.pairs):
        # The first pair starts with the trainer, whose log gives the parameter count.
        order = ["swift", "python"] if i % 2 == 0 else ["python", "swift"]
        pair = {"order": ",".join(order)}
        for side in order:
            if side == "swift":
                pair["swift_check_and_update_s"], pair["swift_update_s"], count = swift.block()
            if parameters is None:
                shapes = gpt2_shapes(args.model, count)
                parameters, in_ram = tensors_of(shapes, seed=0), tensors_of(shapes, seed=1)
                foreach = torch.optim.AdamW(in_ram, lr=1e-4, weight_decay=0.0, foreach=True)
                fused = torch.optim.AdamW(in_ram, lr=1e-4, weight_decay=0.0, fused=True)
            if side == "python":
                pair["smartinfinity_step_s"] = python_block(args, parameters, work)
        pair["torch_adamw_foreach_s"] = timed(foreach.step, args.steps)
        pair["torch_adamw_fused_s"] = timed(fused.step, args.steps)
        pair["python_over_swift"] = pair["smartinfinity_step_s"] / pair["swift_check_and_update_s"]
        pairs.append(pair)
        print(f"pair {i + 1}/{args.pairs} ({pair['order']}): Python {pair['smartinfinity_step_s']:.4f} s, "
              f"Swift {pair['swift_check_and_update_s']:.4f} s, ratio {pair['python_over_swift']:.4f}", flush=True)

    seconds = {name: statistics.median(p[f"{name}_s"] for p in pairs) for name in SIDES}
    seconds["swift_update"] = statistics.median(p["swift_update_s"] for p in pairs)
    ratio = summary([p["python_over_swift"] for p in pairs])
    results = {"parameters": count, "tensors": len(parameters), "devices": args.devices, "mode": args.mode, "dram": args.dram,
               "ssd_dir": str(work.resolve()), "ssd_file_system": file_system(work), "pairs": args.pairs, "steps": args.steps,
               "per_pair": pairs, "python_over_swift": ratio, "seconds": seconds,
               "params_per_s": {name: count / seconds[name] for name in SIDES}}

    print(f"\n{count} parameters in {len(parameters)} tensors, AdamW, {args.devices} device(s) in {args.mode}, "
          f"{args.dram} DRAM each, SSD files on {results['ssd_file_system']} ({work}); {args.pairs} pairs, "
          f"each side's block the median of {args.steps} step(s) after a warm-up")
    print(f"  {'':36s} {'s/step (median of pairs)':>25s} {'params/s':>12s}")
    for name, label in SIDES.items():
        print(f"  {label:36s} {seconds[name]:25.4f} {results['params_per_s'][name]:12.4g}")
    print(f"  (the trainer's update alone: {seconds['swift_update']:.4f} s)")
    print(f"  Python over Swift, per pair: median {ratio['median']:.4f} ({100 * (ratio['median'] - 1):+.1f}%), "
          f"interquartile range {ratio['q1']:.4f}–{ratio['q3']:.4f}, min {ratio['min']:.4f}, max {ratio['max']:.4f}")
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
