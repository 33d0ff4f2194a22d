"""`state_dict()` carries everything a run needs to go on bit-identically in a fresh optimizer:
besides torch's states, the fp32 masters of 16-bit parameters, fp16's dynamic loss scaler and
su+o+c's error-feedback residuals."""

import pytest
import torch
from torch import nn

import smartinfinity
from conftest import batches, make_model

STEPS = 12
HALF = 6


def loss_of(model, batch):
    logits = model(batch[:, :-1])
    return nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def train(model, optimizer, data, first_step, overflow_at=()):
    """Steps `data` with the loss scaled; an Inf in the first gradient at the steps in
    `overflow_at` (numbered from 1 over the whole run)."""
    for i, batch in enumerate(data):
        optimizer.zero_grad()
        optimizer.scale_loss(loss_of(model, batch)).backward()
        if first_step + i in overflow_at:
            next(model.parameters()).grad.view(-1)[0] = float("inf")
        optimizer.step()
        assert optimizer.last_step_skipped == (first_step + i in overflow_at)


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def round_trip(make_optimizer, ssd_dir, dtype=torch.float32, overflow_at=()):
    """An uninterrupted run of STEPS, and one stopped after HALF whose state dict (with the
    model's) goes into a fresh model and optimizer that take the rest: their parameters, masters
    and final state dicts, and the state dict at the stop."""
    data = batches(STEPS)
    straight = make_model().to(dtype)
    with make_optimizer(straight.parameters(), ssd_dir + "-straight") as optimizer:
        train(straight, optimizer, data, 1, overflow_at)
        expected = (flat(straight), optimizer.master_parameters(), optimizer.state_dict())

    first = make_model().to(dtype)
    with make_optimizer(first.parameters(), ssd_dir + "-first") as optimizer:
        train(first, optimizer, data[:HALF], 1, overflow_at)
        saved, saved_model = optimizer.state_dict(), {k: v.clone() for k, v in first.state_dict().items()}
    resumed = make_model(seed=5).to(dtype)
    resumed.load_state_dict(saved_model)
    with make_optimizer(resumed.parameters(), ssd_dir + "-resumed") as optimizer:
        optimizer.load_state_dict(saved)
        train(resumed, optimizer, data[HALF:], HALF + 1, overflow_at)
        got = (flat(resumed), optimizer.master_parameters(), optimizer.state_dict())
    return expected, got, saved


def same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if key == "state":
            assert a["state"].keys() == b["state"].keys()
            for i in a["state"]:
                assert a["state"][i].keys() == b["state"][i].keys()
                assert all(torch.equal(a["state"][i][name], b["state"][i][name]) for name in a["state"][i]), i
        else:
            assert a[key] == b[key], key


def test_fp16_continues_bit_identically_with_its_loss_scaler_and_masters(ssd_dir):
    # A window of 3 clean steps doubles the scale; an overflow at step 5 uses up one of the two
    # hysteresis steps, so at the stop the scaler is nowhere near a fresh one; the overflow at
    # step 7 then halves the scale only because the used-up hysteresis came back.
    def make(parameters, directory):
        return smartinfinity.AdamW(parameters, lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=directory, dram="16MiB",
                                   loss_scaling={"initial_scale": 1024, "window": 3, "hysteresis": 2})
    expected, got, saved = round_trip(make, ssd_dir, torch.float16, overflow_at=(5, 7))
    assert saved["loss_scaler"] == {"scale": 2048.0, "remaining_hysteresis": 1, "iteration": 6, "last_overflow_iteration": 4}
    assert sorted(saved["state"][0]) == ["exp_avg", "exp_avg_sq", "fp32_master", "step"]
    assert saved["state"][0]["fp32_master"].dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(expected[:2], got[:2]))
    same_state(expected[2], got[2])
    assert got[2]["loss_scaler"] == {"scale": 2048.0, "remaining_hysteresis": 2, "iteration": 12, "last_overflow_iteration": 6}


def test_error_feedback_continues_bit_identically_with_its_residuals(ssd_dir):
    def make(parameters, directory):
        return smartinfinity.AdamW(parameters, lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=directory, dram="16MiB",
                                   mode="su+o+c", topk_ratio=0.1, error_feedback=True)
    expected, got, saved = round_trip(make, ssd_dir)
    model = make_model()
    for i, p in enumerate(model.parameters()):
        assert saved["state"][i]["error_feedback"].shape == p.shape
    residuals = torch.cat([entry["error_feedback"].reshape(-1) for entry in saved["state"].values()])
    assert residuals.abs().max() > 0 and saved["error_feedback_steps"] == HALF
    assert all(torch.equal(a, b) for a, b in zip(expected[:2], got[:2]))
    same_state(expected[2], got[2])

    # An optimizer without error feedback takes the states and says it leaves the residuals.
    with smartinfinity.AdamW(model.parameters(), devices=2, ssd_dir=ssd_dir + "-plain", dram="16MiB") as plain:
        with pytest.warns(UserWarning, match="error-feedback residuals are not used"):
            plain.load_state_dict(saved)
        assert plain.applied_steps == HALF


def test_a_loss_scaler_position_the_scaler_cannot_hold_is_refused_naming_it(ssd_dir):
    model = make_model().half()
    with smartinfinity.AdamW(model.parameters(), devices=1, ssd_dir=ssd_dir, dram="16MiB",
                             loss_scaling={"hysteresis": 2}) as optimizer:
        saved = optimizer.state_dict()
        assert saved["loss_scaler"] == {"scale": 65536.0, "remaining_hysteresis": 2, "iteration": 0, "last_overflow_iteration": -1}
        saved["loss_scaler"]["remaining_hysteresis"] = 5
        with pytest.raises(smartinfinity.SmartInfError, match=r"remaining hysteresis must be in 1\.\.\.2 .* got 5"):
            optimizer.load_state_dict(saved)
        saved["loss_scaler"] = {"scale": 8.0}
        with pytest.raises(ValueError, match="loss_scaler lacks remaining_hysteresis, iteration, last_overflow_iteration"):
            optimizer.load_state_dict(saved)
