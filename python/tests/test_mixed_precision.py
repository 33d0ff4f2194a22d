"""fp16 and bf16 parameters with fp32 masters on the devices, and fp16's dynamic loss scaling."""

import pytest
import torch
from torch import nn

import smartinfinity
from conftest import batches, make_model

STEPS = 10


def loss_of(model, batch):
    logits = model(batch[:, :-1])
    return nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def flat(parameters):
    return torch.cat([p.detach().reshape(-1) for p in parameters])


@pytest.mark.parametrize("dtype,scale", [(torch.float16, 1024.0), (torch.bfloat16, 1.0)])
def test_mixed_precision_follows_fp32_masters(ssd_dir, dtype, scale):
    # The reference, written here: fp32 masters (the 16-bit model's values, widened, as DeepSpeed
    # makes them) stepped by torch.optim.AdamW on the 16-bit model's gradients (fp16's carrying
    # the loss scale, divided out in fp32), the model then set to the masters' rounding.
    data = batches(STEPS)
    low = make_model().to(dtype)
    masters = [nn.Parameter(p.detach().float()) for p in low.parameters()]
    torch_optimizer = torch.optim.AdamW(masters, lr=3e-3, weight_decay=0.05)
    for batch in data:
        low.zero_grad()
        (loss_of(low, batch) * scale).backward()
        for master, p in zip(masters, low.parameters()):
            master.grad = p.grad.float() / scale
        torch_optimizer.step()
        with torch.no_grad():
            for master, p in zip(masters, low.parameters()):
                p.copy_(master.to(dtype))

    model = make_model().to(dtype)
    scaling = {"initial_scale": scale} if dtype == torch.float16 else None
    with smartinfinity.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=ssd_dir, dram="16MiB",
                             loss_scaling=scaling) as optimizer:
        assert optimizer.loss_scale == scale
        for batch in data:
            optimizer.zero_grad()
            optimizer.scale_loss(loss_of(model, batch)).backward()
            optimizer.step()
            assert not optimizer.last_step_skipped
        ours = optimizer.master_parameters()
    # The devices write the compute copy: the parameters are the masters' rounding, exactly.
    assert torch.equal(flat(model.parameters()), ours.to(dtype))
    # Our torch flavour differs from torch's kernels by an ulp per operation (test_against_torch);
    # a master that then rounds the other way to 16 bits changes the next forward pass.
    # Stated margin: 1e-4 of the largest master after 10 steps (measured 1.4e-6 in fp16 and 4e-5
    # in bf16, whose coarser rounding flips more often, when written).
    expected = flat(masters)
    assert ((ours - expected).abs().max() / expected.abs().max()).item() <= 1e-4


def test_an_fp16_overflow_skips_the_step_everywhere_and_lowers_the_scale(ssd_dir):
    weight = nn.Parameter(torch.ones(8, dtype=torch.float16))
    with smartinfinity.AdamW([weight], lr=1e-2, devices=2, ssd_dir=ssd_dir, dram="16MiB",
                             loss_scaling={"initial_scale": 1024, "hysteresis": 2}) as optimizer:
        weight.grad = torch.full((8,), 0.5 * 1024, dtype=torch.float16)
        optimizer.step()
        assert not optimizer.last_step_skipped and optimizer.applied_steps == 1
        before, masters = weight.detach().clone(), optimizer.master_parameters()
        assert (before < 1).all()
        for expected_scale in [1024, 512]:   # hysteresis 2: the first overflow is absorbed
            weight.grad = torch.full((8,), 0.5 * 1024, dtype=torch.float16)
            weight.grad[3] = float("inf")
            optimizer.step()
            assert optimizer.last_step_skipped and optimizer.applied_steps == 1
            assert optimizer.loss_scale == expected_scale
            assert torch.equal(weight.detach(), before) and torch.equal(optimizer.master_parameters(), masters)
        # A clean step goes on, unscaled by the lowered scale.
        weight.grad = torch.full((8,), 0.5 * 512, dtype=torch.float16)
        optimizer.step()
        assert optimizer.applied_steps == 2 and (weight.detach() < before).all()


def test_the_engine_skips_the_scheduler_on_an_fp16_overflow(ssd_dir):
    # DeepSpeed's engine does not step its scheduler when an overflow skipped the update.
    model = nn.Linear(4, 1)
    config = {"train_micro_batch_size_per_gpu": 1, "fp16": {"enabled": True, "loss_scale": 0, "initial_scale_power": 4,
                                                            "hysteresis": 1},
              "optimizer": {"type": "AdamW", "params": {"lr": 1e-3}},
              "scheduler": {"type": "WarmupLR", "params": {"warmup_max_lr": 1e-3, "warmup_num_steps": 4, "warmup_type": "linear"}},
              "smartinf": {"devices": 1, "dram": "16MiB", "ssd_dir": ssd_dir}}
    engine, optimizer, _, scheduler = smartinfinity.initialize(model, config=config)
    with engine:
        assert model.weight.dtype == torch.float16 and optimizer.loss_scale == 16
        x = torch.ones(2, 4, dtype=torch.float16)
        engine.backward(engine(x).float().sum())
        engine.step()
        engine.backward(engine(x).float().sum() * float("inf"))
        engine.step()
        assert engine.global_steps == 2 and engine.skipped_steps == 1
        assert scheduler.last_batch_iteration == 0 and optimizer.loss_scale == 8
