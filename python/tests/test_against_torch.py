"""smartinfinity's optimizers against torch.optim's on the same run (flavour="torch")."""

import pytest
import torch

import smartinfinity
from conftest import make_model, max_relative_difference, parameters_of, train

# The torch flavour runs torch's order of operations with each one rounded on its own and a
# correctly rounded square root; torch's CPU kernels fuse some multiply-adds and take an
# approximate root. After 20 steps parameters agree to this relative tolerance.
TOLERANCE = 1e-6


def run_torch(make_optimizer, **kw):
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    losses = train(model, optimizer, **kw)
    return parameters_of(model), losses


def run_ours(make_optimizer, **kw):
    model = make_model()
    with make_optimizer(model.parameters()) as optimizer:
        losses = train(model, optimizer, **kw)
    return parameters_of(model), losses


def test_adamw_matches_torch_and_modes_are_bit_identical(ssd_dir):
    expected, expected_losses = run_torch(lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=0.05))
    results = {}
    for mode in ["base", "su", "su+o"]:
        results[mode], losses = run_ours(lambda p: smartinfinity.AdamW(
            p, lr=3e-3, weight_decay=0.05, devices=2, mode=mode, ssd_dir=f"{ssd_dir}-{mode}", dram="16MiB"))
        assert max_relative_difference(results[mode], expected) <= TOLERANCE, mode
        assert losses[-1] < losses[0]
    for mode in ["su", "su+o"]:
        assert all(torch.equal(a, b) for a, b in zip(results[mode], results["base"])), mode


@pytest.mark.parametrize("momentum,nesterov,dampening", [(0.9, False, 0.0), (0.9, True, 0.0), (0.8, False, 0.25), (0.0, False, 0.0)])
def test_sgd_matches_torch(ssd_dir, momentum, nesterov, dampening):
    kw = dict(lr=0.05, momentum=momentum, nesterov=nesterov, dampening=dampening, weight_decay=0.01)
    expected, _ = run_torch(lambda p: torch.optim.SGD(p, **kw))
    ours, _ = run_ours(lambda p: smartinfinity.SGD(p, **kw, devices=2, ssd_dir=ssd_dir, dram="16MiB"))
    assert max_relative_difference(ours, expected) <= TOLERANCE


def test_adagrad_matches_torch(ssd_dir):
    kw = dict(lr=0.05, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-10)
    expected, _ = run_torch(lambda p: torch.optim.Adagrad(p, **kw))
    ours, _ = run_ours(lambda p: smartinfinity.Adagrad(p, **kw, devices=2, ssd_dir=ssd_dir, dram="16MiB"))
    assert max_relative_difference(ours, expected) <= TOLERANCE


def groups_of(parameters, decay_lr=1e-3):
    """Two param groups with their own lr and weight decay (biases and norms without decay)."""
    parameters = list(parameters)
    return [
        {"params": [p for p in parameters if p.dim() >= 2]},
        {"params": [p for p in parameters if p.dim() < 2], "lr": decay_lr, "weight_decay": 0.0},
    ]


def test_param_groups_and_lr_scheduler_match_torch(ssd_dir):
    def schedule(optimizer):
        # Warm-up then step decay, as the schedulers set each group's lr.
        return torch.optim.lr_scheduler.SequentialLR(optimizer, [
            torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=5),
            torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)], milestones=[5])

    expected_model = make_model()
    expected_optimizer = torch.optim.AdamW(groups_of(expected_model.parameters()), lr=3e-3, weight_decay=0.1)
    train(expected_model, expected_optimizer, scheduler=schedule(expected_optimizer))
    model = make_model()
    with smartinfinity.AdamW(groups_of(model.parameters()), lr=3e-3, weight_decay=0.1, devices=2,
                             ssd_dir=ssd_dir, dram="16MiB") as optimizer:
        train(model, optimizer, scheduler=schedule(optimizer))
    assert max_relative_difference(parameters_of(model), parameters_of(expected_model)) <= TOLERANCE


def test_compressed_with_error_feedback_stays_near_dense(ssd_dir):
    # su+o+c sends 10% of each subgroup's gradient; error feedback carries the rest forward.
    # Stated margin: the final loss is within 5% of the dense run's.
    _, dense = run_ours(lambda p: smartinfinity.AdamW(p, lr=3e-3, devices=2, mode="su+o", ssd_dir=ssd_dir + "-d",
                                                      dram="16MiB"))
    _, compressed = run_ours(lambda p: smartinfinity.AdamW(p, lr=3e-3, devices=2, mode="su+o+c", topk_ratio=0.1,
                                                           error_feedback=True, ssd_dir=ssd_dir, dram="16MiB"))
    assert compressed[-1] < compressed[0]
    assert abs(compressed[-1] - dense[-1]) <= 0.05 * dense[-1], (compressed[-1], dense[-1])


def test_8bit_states_learn_like_torch_and_modes_are_bit_identical(ssd_dir):
    # The states stored as 8-bit codes with an fp32 scale per 256 elements; the update itself is
    # torch's in fp32. Stated margin: the final loss within 5% of torch.optim.AdamW's.
    _, expected_losses = run_torch(lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=0.05))
    results = {}
    for mode in ["base", "su+o"]:
        results[mode], losses = run_ours(lambda p: smartinfinity.AdamW(
            p, lr=3e-3, weight_decay=0.05, devices=2, mode=mode, ssd_dir=f"{ssd_dir}-{mode}", dram="16MiB",
            state_precision="8bit", state_block=256))
        assert losses[-1] < losses[0]
        assert abs(losses[-1] - expected_losses[-1]) <= 0.05 * expected_losses[-1], (losses[-1], expected_losses[-1])
    assert all(torch.equal(a, b) for a, b in zip(results["su+o"], results["base"]))
    fp32, _ = run_ours(lambda p: smartinfinity.AdamW(p, lr=3e-3, weight_decay=0.05, devices=2, ssd_dir=ssd_dir, dram="16MiB"))
    assert not all(torch.equal(a, b) for a, b in zip(results["su+o"], fp32))
    with pytest.raises(ValueError, match="state_precision 'int8'"):
        smartinfinity.AdamW(make_model().parameters(), state_precision="int8")
    with pytest.raises(smartinfinity.SmartInfError, match="state_block must be a power of two in 64...65536, got 1000"):
        smartinfinity.AdamW(make_model().parameters(), ssd_dir=ssd_dir, state_precision="8bit", state_block=1000)
