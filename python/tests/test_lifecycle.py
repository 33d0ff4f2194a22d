"""State dicts, recovery from a killed device, and refusals of what smartinfinity cannot take."""

import pytest
import torch
from torch import nn

import smartinfinity
from conftest import STEPS, batches, kill, make_model, parameters_of, train


def adamw(parameters, ssd_dir, **kw):
    settings = dict(lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=ssd_dir, dram="16MiB")
    return smartinfinity.AdamW(parameters, **{**settings, **kw})


def test_state_dict_round_trip_continues_bit_identically(ssd_dir):
    data = batches(STEPS)
    model = make_model()
    with adamw(model.parameters(), ssd_dir + "-a") as optimizer:
        train(model, optimizer, data=data[:10])
        saved_model = {k: v.clone() for k, v in model.state_dict().items()}
        saved = optimizer.state_dict()
        train(model, optimizer, data=data[10:])
    straight = parameters_of(model)

    assert sorted(saved["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert float(saved["state"][0]["step"]) == 10
    resumed = make_model(seed=7)
    resumed.load_state_dict(saved_model)
    with adamw(resumed.parameters(), ssd_dir + "-b") as optimizer:
        optimizer.load_state_dict(saved)
        train(resumed, optimizer, data=data[10:])
    assert all(torch.equal(a, b) for a, b in zip(parameters_of(resumed), straight))


def test_a_torch_state_dict_loads_and_continues(ssd_dir):
    # The state dict of torch.optim.AdamW after 10 steps, continued by smartinfinity.AdamW.
    data = batches(STEPS)
    reference = make_model()
    torch_optimizer = torch.optim.AdamW(reference.parameters(), lr=3e-3, weight_decay=0.05)
    train(reference, torch_optimizer, data=data[:10])
    model = make_model()
    model.load_state_dict(reference.state_dict())
    with adamw(model.parameters(), ssd_dir) as optimizer:
        optimizer.load_state_dict(torch_optimizer.state_dict())
        assert optimizer.applied_steps == 10
        train(model, optimizer, data=data[10:])
    train(reference, torch_optimizer, data=data[10:])
    # torch's state was made by torch's kernels (fused multiply-adds, approximate roots), so the
    # two runs differ by an ulp per operation from the first step on; the gradients then differ
    # too. Stated margin: 5e-6 of each tensor's largest value after 10 steps.
    for a, b in zip(parameters_of(model), parameters_of(reference)):
        assert ((a - b).abs().max() / b.abs().max()).item() <= 5e-6


def test_a_killed_device_is_recovered_bit_identically(ssd_dir):
    clean_model = make_model()
    with adamw(clean_model.parameters(), ssd_dir + "-clean") as optimizer:
        train(clean_model, optimizer)
    model = make_model()
    with adamw(model.parameters(), ssd_dir, on_device_failure="retry") as optimizer:
        train(model, optimizer, after_step=lambda step: kill(optimizer.device_pid(1)) if step == 7 else None)
        assert optimizer.recoveries == 1
    assert all(torch.equal(a, b) for a, b in zip(parameters_of(model), parameters_of(clean_model)))


def test_a_device_crash_inside_a_step_is_recovered_bit_identically(ssd_dir):
    clean_model = make_model()
    with adamw(clean_model.parameters(), ssd_dir + "-clean", mode="su+o+c", topk_ratio=0.2, error_feedback=True) as o:
        train(clean_model, o)
    model = make_model()
    with adamw(model.parameters(), ssd_dir, mode="su+o+c", topk_ratio=0.2, error_feedback=True,
               on_device_failure="retry", device_faults={0: "crash@step=5,phase=update"}) as optimizer:
        train(model, optimizer)
        assert optimizer.recoveries == 1
    assert all(torch.equal(a, b) for a, b in zip(parameters_of(model), parameters_of(clean_model)))


def test_a_killed_device_under_abort_raises(ssd_dir):
    model = make_model()
    with adamw(model.parameters(), ssd_dir) as optimizer:
        train(model, optimizer, steps=2, data=batches(2))
        kill(optimizer.device_pid(0))
        with pytest.raises(smartinfinity.SmartInfError, match="device 0") as raised:
            train(model, optimizer, steps=1, data=batches(1))
        assert raised.value.code == smartinfinity.SmartInfError.DEVICE


def test_bad_inputs_are_refused_by_name(ssd_dir):
    with pytest.raises(ValueError, match="not contiguous"):
        adamw([nn.Parameter(torch.randn(4, 6).t())], ssd_dir)
    with pytest.raises(TypeError, match="float64"):
        adamw([nn.Parameter(torch.randn(4, dtype=torch.float64))], ssd_dir)
    with pytest.raises(ValueError, match="meta"):
        adamw([nn.Parameter(torch.empty(4, device="meta"))], ssd_dir)
    with pytest.raises(ValueError, match="mode 'su\\+x'"):
        adamw([nn.Parameter(torch.randn(4))], ssd_dir, mode="su+x")
    with pytest.raises(ValueError, match="Invalid learning rate"):
        smartinfinity.AdamW([nn.Parameter(torch.randn(4))], lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        smartinfinity.AdamW([{"params": [nn.Parameter(torch.randn(4))], "betas": (0.8, 0.9)}], devices=1, ssd_dir=ssd_dir)
    with pytest.raises(smartinfinity.SmartInfError, match="dram 'lots'") as raised:
        adamw([nn.Parameter(torch.randn(4))], ssd_dir, dram="lots")
    assert raised.value.code == smartinfinity.SmartInfError.BAD_ARGUMENT
    with pytest.raises(ValueError, match="amsgrad"):
        smartinfinity.AdamW([nn.Parameter(torch.randn(4))], amsgrad=True)


def test_a_bad_gradient_is_refused_and_the_optimizer_goes_on(ssd_dir):
    weight = nn.Parameter(torch.ones(8))
    with adamw([weight], ssd_dir) as optimizer:
        weight.grad = torch.ones(16)[::2]
        with pytest.raises(ValueError, match="parameter 0 of param group 0 .*gradient is not contiguous"):
            optimizer.step()
        assert torch.equal(weight.detach(), torch.ones(8))
        weight.grad = torch.ones(8)
        optimizer.step()
        assert optimizer.applied_steps == 1
        assert (weight.detach() < 1).all()


def test_a_non_finite_gradient_skips_the_step(ssd_dir):
    weight = nn.Parameter(torch.ones(8))
    with adamw([weight], ssd_dir) as optimizer:
        weight.grad = torch.full((8,), float("inf"))
        optimizer.step()
        assert optimizer.last_step_skipped and optimizer.applied_steps == 0
        assert torch.equal(weight.detach(), torch.ones(8))


def test_closed_optimizer_refuses_steps(ssd_dir):
    weight = nn.Parameter(torch.ones(8))
    optimizer = adamw([weight], ssd_dir)
    optimizer.close()
    optimizer.close()
    weight.grad = torch.ones(8)
    with pytest.raises(smartinfinity.SmartInfError, match="closed"):
        optimizer.step()


def test_parameters_and_gradients_live_in_the_flat_buffers_and_outlive_the_optimizer(ssd_dir):
    # The parameters (and, from zero_grad on, their gradients) are views of the library's two flat
    # buffers, one after another in registration order: a step copies neither.
    model = make_model()
    optimizer = adamw(model.parameters(), ssd_dir)
    train(model, optimizer, steps=3)
    parameters = list(model.parameters())
    width = parameters[0].element_size()
    for a, b in zip(parameters, parameters[1:]):
        assert b.data_ptr() == a.data_ptr() + a.numel() * width
        assert b.grad.data_ptr() == a.grad.data_ptr() + a.numel() * width
    # Closing (or dropping) the optimizer frees the buffers: the model keeps its values, in
    # memory of its own, and goes on training with another optimizer.
    before = parameters_of(model)
    optimizer.close()
    assert all(torch.equal(a, b) for a, b in zip(parameters_of(model), before))
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(parameters, before))
    second = adamw(model.parameters(), ssd_dir + "-second")
    del second
    import gc
    gc.collect()
    assert all(torch.equal(a, b) for a, b in zip(parameters_of(model), before))
    train(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)


def test_gradients_replaced_outside_the_flat_buffer_give_the_same_step(ssd_dir):
    # A user who sets .grad to tensors of their own (or to None, as torch's zero_grad does)
    # gets the same bits: the step copies those gradients instead.
    data = batches(6)
    results = []
    for replace in (False, True):
        model = make_model()
        with adamw(model.parameters(), ssd_dir + f"-{replace}") as optimizer:
            for batch in data:
                if replace:
                    for p in model.parameters():
                        p.grad = None
                else:
                    optimizer.zero_grad()
                logits = model(batch[:, :-1])
                nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)).backward()
                optimizer.step()
        results.append(parameters_of(model))
    assert all(torch.equal(a, b) for a, b in zip(*results))
