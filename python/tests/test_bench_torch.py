"""`make bench-torch`'s script at a tiny size for two pairs (not timed: its figures are only
checked to be there and sane)."""

import json
import math
import subprocess
import sys
from pathlib import Path

from smartinfinity._library import library_path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_torch.py"
SIDES = ["smartinfinity_step", "swift_check_and_update", "torch_adamw_foreach", "torch_adamw_fused"]


def positive(x):
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_the_benchmark_interleaves_pairs_and_reports_their_ratios(tmp_path):
    smartinf = library_path().parent / "smartinf"
    assert smartinf.is_file(), f"no smartinf beside the library ({smartinf}): `make test-python` builds it"
    saved = tmp_path / "bench-torch.json"
    done = subprocess.run([sys.executable, str(BENCHMARK), "--smartinf", str(smartinf), "--model", "gpt2:1,2,32,16,256",
                           "--devices", "2", "--dram", "16MiB", "--pairs", "2", "--steps", "2", "--seq", "8",
                           "--dir", str(tmp_path / "work"), "--save", str(saved)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    results = json.loads(saved.read_text())

    # GPT-2 1,2,32,16,256 in llm.c's layout: wte (256 × 32, the vocabulary already a multiple of
    # 128), wpe (16 × 32), one layer (12·32² + 13·32), the final LayerNorm (2·32).
    assert results["parameters"] == 256 * 32 + 16 * 32 + 12 * 32 ** 2 + 13 * 32 + 2 * 32
    assert results["tensors"] == 4 + 12 * 1
    assert (results["devices"], results["mode"], results["dram"], results["pairs"], results["steps"]) == (2, "su+o", "16MiB", 2, 2)
    assert results["ssd_file_system"] != "unknown"
    assert [p["order"] for p in results["per_pair"]] == ["swift,python", "python,swift"]
    for pair in results["per_pair"]:
        for name in SIDES + ["swift_update"]:
            assert positive(pair[f"{name}_s"]), (name, pair)
        assert pair["swift_update_s"] <= pair["swift_check_and_update_s"]
        assert pair["python_over_swift"] == pair["smartinfinity_step_s"] / pair["swift_check_and_update_s"]
    ratios = sorted(p["python_over_swift"] for p in results["per_pair"])
    summary = results["python_over_swift"]
    assert (summary["min"], summary["max"]) == (ratios[0], ratios[-1])
    assert summary["min"] <= summary["q1"] <= summary["median"] <= summary["q3"] <= summary["max"]
    assert math.isclose(summary["median"], sum(ratios) / 2)
    for name in SIDES:
        assert positive(results["seconds"][name]) and positive(results["params_per_s"][name])
        assert math.isclose(results["params_per_s"][name] * results["seconds"][name], results["parameters"])

    # The printed table names every side and the ratio's median and spread.
    for label in ["smartinfinity.AdamW.step", "smartinf train grad_check + update", "torch.optim.AdamW foreach (RAM)",
                  "torch.optim.AdamW fused (RAM)", "Python over Swift, per pair: median", "interquartile range"]:
        assert label in done.stdout, label
