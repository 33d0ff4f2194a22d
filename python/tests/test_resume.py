"""A process killed outright (SIGKILL, between steps or inside one) goes on from its devices with
`resume=True`: the parameters come back from the devices' fp32 masters, `steps_taken` says where
the run stands, and the run ends bit-identical to one that was never killed."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import smartinfinity
from conftest import STEPS, batches, make_model, parameters_of, train

# The training script a killed process runs: it resumes if it can, trains to STEPS, and kills
# itself after the step `kill_after` (or inside step `kill_inside`) if asked.
SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading
    sys.path.insert(0, {tests!r})
    import torch
    import smartinfinity
    from conftest import STEPS, batches, make_model, train
    ssd_dir, out, kill_after, kill_inside, precision = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    model = make_model()
    if precision == "bf16":
        model = model.to(torch.bfloat16)
    optimizer = smartinfinity.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=ssd_dir,
                                    dram="16MiB", resume=True)
    done = optimizer.steps_taken
    def after_step(i):
        step = done + i
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if step + 1 == kill_inside:
            threading.Timer(0.001, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
    train(model, optimizer, data=batches(STEPS)[done:], after_step=after_step)
    torch.save([p.detach().clone() for p in model.parameters()], out)
    optimizer.close()
""")


def run_script(tmp_path, ssd_dir, kill_after=0, kill_inside=0, precision="fp32"):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(tests=os.path.dirname(__file__)))
    out = tmp_path / "parameters.pt"
    result = subprocess.run([sys.executable, str(script), ssd_dir, str(out), str(kill_after), str(kill_inside), precision],
                            capture_output=True, text=True, timeout=300)
    return result, out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_killed_process_resumes_from_its_devices_bit_identically(tmp_path, ssd_dir, precision):
    reference = make_model()
    if precision == "bf16":
        reference = reference.to(torch.bfloat16)
    with smartinfinity.AdamW(reference.parameters(), lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=ssd_dir + "-reference",
                             dram="16MiB") as optimizer:
        train(reference, optimizer)
    expected = parameters_of(reference)

    # Killed after step 6, then inside step 13, then left to finish.
    first, _ = run_script(tmp_path, ssd_dir, kill_after=6, precision=precision)
    assert first.returncode == -signal.SIGKILL, first.stderr
    second, _ = run_script(tmp_path, ssd_dir, kill_inside=13, precision=precision)
    assert second.returncode == -signal.SIGKILL, second.stderr
    last, out = run_script(tmp_path, ssd_dir, precision=precision)
    assert last.returncode == 0, last.stderr
    resumed = torch.load(out)
    assert all(torch.equal(a, b) for a, b in zip(resumed, expected))


def test_resume_refuses_devices_set_up_for_another_run(ssd_dir):
    model = make_model()
    with smartinfinity.AdamW(model.parameters(), lr=3e-3, devices=2, ssd_dir=ssd_dir, dram="16MiB") as optimizer:
        train(model, optimizer, steps=2)
    other = torch.nn.Linear(3, 3)
    with pytest.raises(smartinfinity.SmartInfError, match="parameter count is"):
        smartinfinity.AdamW(other.parameters(), devices=2, ssd_dir=ssd_dir, dram="16MiB", resume=True)
    with pytest.raises(smartinfinity.SmartInfError, match="resume cannot go on with error_feedback"):
        smartinfinity.AdamW(model.parameters(), devices=2, ssd_dir=ssd_dir, dram="16MiB", mode="su+o+c", error_feedback=True,
                            resume=True)
    # Nothing to resume: a fresh start.
    fresh = make_model()
    with smartinfinity.AdamW(fresh.parameters(), devices=2, ssd_dir=ssd_dir + "-empty", dram="16MiB", resume=True) as optimizer:
        assert optimizer.steps_taken == 0
