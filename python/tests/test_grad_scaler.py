"""torch.amp.GradScaler driving smartinfinity's optimizers as it drives torch.optim's: the same
steps skipped, the same scales, and the gradients unscaled exactly once (by the library, in the
update's one gradient factor)."""

import math

import pytest
import torch
from torch import nn

import smartinfinity
from conftest import batches, make_model, max_relative_difference, parameters_of

STEPS = 12
#: Steps (1-based) whose gradient gets a non-finite element after backward, as an overflow would.
POISONED = {4: float("inf"), 5: float("inf"), 9: float("nan")}
#: test_against_torch's tolerance: our torch flavour against torch's kernels after 20 steps.
TOLERANCE = 1e-6
#: test_mixed_precision's: 16-bit parameters whose fp32 masters round differently now and then.
MASTER_TOLERANCE = 1e-4


def make_scaler():
    # Grows after 3 clean steps, so that a run both grows and backs off.
    return torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=3)


def loss_of(model, batch):
    logits = model(batch[:, :-1])
    return nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def poison(model, step):
    if step in POISONED:
        next(model.parameters()).grad.view(-1)[3] = POISONED[step]


def train_scaled(model, optimizer, scaler, *, unscale_and_clip=False):
    """GradScaler's loop on `model`; per step the scale after `update`, whether the parameters
    changed (the step was applied), and the norm of the gradients as they stand after the step
    (for torch.optim: the ones it stepped on, which GradScaler unscaled in place)."""
    scales, applied, norms = [], [], []
    for step, batch in enumerate(batches(STEPS), start=1):
        optimizer.zero_grad()
        scaler.scale(loss_of(model, batch)).backward()
        poison(model, step)
        if unscale_and_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        before = parameters_of(model)
        scaler.step(optimizer)
        scaler.update()
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.parameters()])).item())
        scales.append(scaler.get_scale())
        applied.append(not all(torch.equal(a, b) for a, b in zip(before, parameters_of(model))))
    return scales, applied, norms


@pytest.mark.parametrize("unscale_and_clip", [False, True])
def test_grad_scaler_drives_ours_as_it_drives_torch(ssd_dir, unscale_and_clip):
    model = make_model()
    torch_scales, torch_applied, torch_norms = train_scaled(
        model, torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05), make_scaler(),
        unscale_and_clip=unscale_and_clip)
    expected = parameters_of(model)

    model = make_model()
    ours_norms, ours_skipped = [], []
    with smartinfinity.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=ssd_dir,
                             dram="16MiB") as optimizer:
        optimizer.register_step_post_hook(lambda o, *_: (ours_norms.append(o.last_grad_norm),
                                                         ours_skipped.append(o.last_step_skipped)))
        scales, applied, _ = train_scaled(model, optimizer, make_scaler(), unscale_and_clip=unscale_and_clip)
        assert optimizer.steps_taken == STEPS and optimizer.applied_steps == STEPS - len(POISONED)

    # The same decisions: the poisoned steps skipped (parameters untouched) and the scale halved
    # after each, doubled after 3 clean steps.
    assert applied == torch_applied == [step not in POISONED for step in range(1, STEPS + 1)]
    assert ours_skipped == [step in POISONED for step in range(1, STEPS + 1)]
    assert scales == torch_scales
    assert min(scales) < 2.0 ** 10 < max(scales)
    # Unscaled once: the library's gradient norm is the norm of the gradients torch stepped on
    # (unscaled by GradScaler; then clipped, and the library told the scale is 1).
    for step, (ours, theirs) in enumerate(zip(ours_norms, torch_norms), start=1):
        if step not in POISONED:
            assert math.isclose(ours, theirs, rel_tol=1e-4), (step, ours, theirs)
    assert max_relative_difference(parameters_of(model), expected) <= TOLERANCE


def test_grad_scaler_steps_fp16_parameters_with_fp32_masters(ssd_dir):
    # torch.optim cannot take fp16 parameters under a GradScaler (it refuses to unscale fp16
    # gradients); ours unscales them in the library. The reference, written here: fp32 masters
    # stepped by torch.optim.AdamW under a GradScaler of their own, on the fp16 model's scaled
    # gradients, the model then set to the masters' rounding (test_mixed_precision's, scaled).
    dtype = torch.float16
    low = make_model().to(dtype)
    masters = [nn.Parameter(p.detach().float()) for p in low.parameters()]
    torch_optimizer = torch.optim.AdamW(masters, lr=3e-3, weight_decay=0.05)
    reference_scaler = make_scaler()
    reference_scales, reference_applied = [], []
    for step, batch in enumerate(batches(STEPS), start=1):
        low.zero_grad()
        reference_scaler.scale(loss_of(low, batch)).backward()
        poison(low, step)
        for master, p in zip(masters, low.parameters()):
            master.grad = p.grad.float()
        before = [m.detach().clone() for m in masters]
        reference_scaler.step(torch_optimizer)
        reference_scaler.update()
        reference_scales.append(reference_scaler.get_scale())
        reference_applied.append(not all(torch.equal(a, b) for a, b in zip(before, masters)))
        with torch.no_grad():
            for master, p in zip(masters, low.parameters()):
                p.copy_(master.to(dtype))

    model = make_model().to(dtype)
    scaler = make_scaler()
    scales, skipped = [], []
    with smartinfinity.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=ssd_dir,
                             dram="16MiB") as optimizer:
        for step, batch in enumerate(batches(STEPS), start=1):
            optimizer.zero_grad()
            scaler.scale(loss_of(model, batch)).backward()
            poison(model, step)
            scaler.step(optimizer)
            scaler.update()
            scales.append(scaler.get_scale())
            skipped.append(optimizer.last_step_skipped)
        ours = optimizer.master_parameters()
        # The library's own loss scaler took no part: not a step counted, its scale as it began.
        own = optimizer.state_dict()["loss_scaler"]
        assert own["iteration"] == 0 and own["scale"] == optimizer.loss_scale == 2.0 ** 16

    assert skipped == [not a for a in reference_applied] == [step in POISONED for step in range(1, STEPS + 1)]
    assert scales == reference_scales
    flat = lambda tensors: torch.cat([t.detach().reshape(-1) for t in tensors])
    assert torch.equal(flat(model.parameters()), ours.to(dtype))
    expected = flat(masters)
    assert ((ours - expected).abs().max() / expected.abs().max()).item() <= MASTER_TOLERANCE


def test_a_gradient_poisoned_after_the_scalers_check_skips_the_step_with_a_warning(ssd_dir):
    # GradScaler decided on the gradients it checked in unscale_; a gradient made non-finite
    # afterwards is still caught by the library, which skips the step rather than apply it.
    weight = nn.Parameter(torch.ones(8))
    scaler = make_scaler()
    with smartinfinity.AdamW([weight], lr=1e-2, devices=1, ssd_dir=ssd_dir, dram="16MiB") as optimizer:
        optimizer.zero_grad()
        scaler.scale(weight.sum()).backward()
        scaler.unscale_(optimizer)
        weight.grad[2] = float("nan")
        with pytest.warns(UserWarning, match="GradScaler found every gradient finite"):
            scaler.step(optimizer)
        scaler.update()
        assert optimizer.last_step_skipped and optimizer.applied_steps == 0
        assert torch.equal(weight.detach(), torch.ones(8))
        assert scaler.get_scale() == 2.0 ** 10   # the scaler saw no overflow
