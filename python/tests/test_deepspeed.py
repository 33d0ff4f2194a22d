"""DeepSpeed's face: its schedulers, `initialize` with a DeepSpeed-style config, gradient accumulation
through the engine."""

import json
import math

import pytest
import torch
from torch import nn

import smartinfinity
from smartinfinity.engine import _HYPERPARAMETERS, _OFFLOAD
from smartinfinity._library import read_config
from conftest import batches, make_model, max_relative_difference, parameters_of

TOLERANCE = 1e-6


# -- the schedulers ------------------------------------------------------------------------------

def deepspeed_rate(kind, params, base, iteration):
    """DeepSpeed's formulas (deepspeed/runtime/lr_schedules.py), written out in its order of
    operations, at `last_batch_iteration` = iteration."""
    w = max(2, params.get("warmup_num_steps", 1000))
    log_type = params.get("warmup_type", "log") == "log"

    def warmup(i):
        return (1.0 / math.log(w)) * math.log(i + 1) if log_type else i / w

    if kind == "WarmupCosineLR":
        if iteration < 0:
            return 0.0
        if iteration < w:
            lo = params.get("warmup_min_ratio", 0.0)
            return base * (lo + warmup(iteration) * (1.0 - lo))
        total, floor = params["total_num_steps"], params.get("cos_min_ratio", 0.0001)
        ratio = (1 + math.cos(math.pi * (iteration - w + 1) / (total - w))) / 2
        return base * max(0.0, floor + (1.0 - floor) * ratio)
    lo, hi = params.get("warmup_min_lr", 0.0), params.get("warmup_max_lr", 0.001)
    if iteration < 0:
        return lo
    if iteration < w:
        gamma = warmup(iteration)
    elif kind == "WarmupLR":
        gamma = 1.0
    else:
        total = params["total_num_steps"]
        gamma = max(0.0, float(total - iteration) / float(max(1.0, total - w)))
    return lo + (hi - lo) * gamma


SCHEDULES = [
    ("WarmupLR", dict(warmup_min_lr=1e-5, warmup_max_lr=3e-3, warmup_num_steps=50)),
    ("WarmupLR", dict(warmup_min_lr=0.0, warmup_max_lr=1e-3, warmup_num_steps=7, warmup_type="linear")),
    ("WarmupDecayLR", dict(total_num_steps=120, warmup_min_lr=2e-5, warmup_max_lr=6e-4, warmup_num_steps=30)),
    ("WarmupCosineLR", dict(total_num_steps=90, warmup_min_ratio=0.1, warmup_num_steps=15, cos_min_ratio=0.01)),
    ("WarmupCosineLR", dict(total_num_steps=40, warmup_num_steps=0, warmup_type="linear")),
]
CLASSES = {"WarmupLR": smartinfinity.WarmupLR, "WarmupDecayLR": smartinfinity.WarmupDecayLR,
           "WarmupCosineLR": smartinfinity.WarmupCosineLR}


@pytest.mark.parametrize("kind,params", SCHEDULES)
def test_schedulers_give_deepspeeds_rates_bit_for_bit(kind, params):
    # Any torch optimizer: the scheduler only sets each group's lr.
    weight = nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=5e-4)
    scheduler = CLASSES[kind](optimizer, **params)
    for iteration in range(-1, 250):
        assert optimizer.param_groups[0]["lr"] == deepspeed_rate(kind, params, 5e-4, iteration), (kind, iteration)
        scheduler.step()
    assert scheduler.state_dict() == {"last_batch_iteration": 250}


def test_warmup_bounds_may_be_given_per_param_group():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=1.0)
    scheduler = smartinfinity.WarmupLR(optimizer, warmup_min_lr=[0.0, 1e-4], warmup_max_lr=[1e-3, 2e-3],
                                       warmup_num_steps=10, warmup_type="linear")
    for _ in range(6):
        scheduler.step()
    assert scheduler.get_last_lr() == [1e-3 * 0.5, 1e-4 + (2e-3 - 1e-4) * 0.5]
    with pytest.raises(ValueError, match="expected 2 value"):
        smartinfinity.WarmupLR(optimizer, warmup_min_lr=[0.0])


def test_a_scheduler_with_bad_params_is_refused_naming_them():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=1.0)
    with pytest.raises(ValueError, match="scheduler.params.total_num_steps' must exceed warmup_num_steps"):
        smartinfinity.WarmupCosineLR(optimizer, total_num_steps=10, warmup_num_steps=20)
    with pytest.raises(ValueError, match="warmup_type' must be log or linear"):
        smartinfinity.WarmupLR(optimizer, warmup_type="cubic")


def test_schedulers_match_deepspeeds_own_when_it_is_installed():
    schedules = pytest.importorskip("deepspeed.runtime.lr_schedules")
    for kind, params in SCHEDULES:
        ours_optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=5e-4)
        theirs_optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=5e-4)
        ours, theirs = CLASSES[kind](ours_optimizer, **params), getattr(schedules, kind)(theirs_optimizer, **params)
        for _ in range(250):
            assert ours_optimizer.param_groups[0]["lr"] == theirs_optimizer.param_groups[0]["lr"], kind
            ours.step()
            theirs.step()


# -- initialize -----------------------------------------------------------------------------------

def config(ssd_dir, **extra):
    base = {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 2, "steps_per_print": 10,
            "optimizer": {"type": "AdamW", "params": {"lr": 3e-3, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.05}},
            "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": 0, "warmup_max_lr": 3e-3, "warmup_num_steps": 5,
                                                         "warmup_type": "linear"}},
            "zero_optimization": {"stage": 3, "offload_optimizer": {"device": "nvme", "nvme_path": ssd_dir}},
            "smartinf": {"devices": 2, "dram": "16MiB"}}
    base.update(extra)
    return base


def test_initialize_reads_a_deepspeed_config_and_names_ignored_keys(ssd_dir, tmp_path):
    path = tmp_path / "ds_config.json"
    path.write_text(json.dumps(config(ssd_dir)))
    model = make_model()
    with pytest.warns(UserWarning, match="ignoring steps_per_print"):
        engine, optimizer, loader, scheduler = smartinfinity.initialize(model, config=str(path))
    with engine:
        assert isinstance(optimizer, smartinfinity.AdamW) and loader is None
        assert isinstance(scheduler, smartinfinity.DeepSpeedScheduler)
        assert optimizer.defaults["betas"] == (0.9, 0.95) and optimizer.defaults["weight_decay"] == 0.05
        assert engine.gradient_accumulation_steps() == 2 and engine.train_batch_size() == 4
        assert engine.get_lr() == [0.0]   # WarmupLR at iteration -1: its minimum


@pytest.mark.parametrize("change,message", [
    ({"optimizer": {"type": "AdamW", "params": {"lr": "fast"}}}, "key 'optimizer.params.lr' must be a number, found the string \"fast\""),
    ({"optimizer": {"type": "AdamW", "params": {"momentun": 0.9}}}, "key 'optimizer.params.momentun' is not known"),
    ({"scheduler": {"type": "OneCycle"}}, "key 'scheduler.type' must be one of WarmupLR, WarmupDecayLR, WarmupCosineLR"),
    ({"train_batch_size": 5}, "key 'train_batch_size' must equal train_micro_batch_size_per_gpu × gradient_accumulation_steps"),
    ({"smartinf": {"mode": "turbo"}}, "key 'smartinf.mode' must be one of base, su, su\\+o, su\\+o\\+c"),
])
def test_initialize_refuses_wrong_types_naming_the_key(ssd_dir, change, message):
    with pytest.raises(ValueError, match=message):
        smartinfinity.initialize(make_model(), config=config(ssd_dir, **change))


def test_every_setting_the_library_resolves_is_used_by_initialize():
    # The library reads the config (one key list, in Swift); every key it resolves must be one
    # initialize hands on, or the two would disagree about what a config does.
    everything = {
        "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 2, "gradient_clipping": 1.0,
        "optimizer": {"type": "AdamW", "params": {"lr": 1e-3, "betas": [0.9, 0.99], "eps": 1e-8, "weight_decay": 0.1,
                                                  "momentum": 0.9}},
        "scheduler": {"type": "WarmupLR"}, "fp16": {"enabled": True, "loss_scale": 0}, "bf16": {"enabled": False},
        "zero_optimization": {"sub_group_size": 4096, "offload_optimizer": {"device": "nvme", "nvme_path": "/nvme"}},
        "aio": {"block_size": 262144, "queue_depth": 8},
        "smartinf": {"devices": 2, "mode": "su+o+c", "topk_ratio": 0.1, "error_feedback": True, "dram": "16MiB", "ssd_dir": "/x"},
    }
    settings = read_config(json.dumps(everything), "everything")
    handled = set(_OFFLOAD) | {key for keys in _HYPERPARAMETERS.values() for key in keys} | {
        "optimizer", "flavour", "precision", "scheduler", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
        "ignored_keys"}
    assert set(settings) - handled == set()
    assert settings["ignored_keys"] == []


def test_the_engine_accumulates_as_a_torch_loop_does(ssd_dir):
    # Two micro-batches of 2 per step through the engine, against torch.optim.AdamW stepped by
    # hand on the mean of the same two micro-batches' gradients, with DeepSpeed's WarmupLR
    # (written here as formulas) setting torch's lr.
    params = {"warmup_min_lr": 0, "warmup_max_lr": 3e-3, "warmup_num_steps": 5, "warmup_type": "linear"}
    data = batches(12)
    loss_of = lambda model, batch: nn.functional.cross_entropy(
        model(batch[:, :-1]).reshape(-1, 32), batch[:, 1:].reshape(-1))

    reference = make_model()
    torch_optimizer = torch.optim.AdamW(reference.parameters(), lr=0.0, betas=(0.9, 0.95), weight_decay=0.05)
    for step in range(6):
        torch_optimizer.param_groups[0]["lr"] = deepspeed_rate("WarmupLR", params, None, step - 1)
        for batch in data[2 * step:2 * step + 2]:
            (loss_of(reference, batch[:2]) / 2).backward()
        torch_optimizer.step()
        torch_optimizer.zero_grad()

    model = make_model()
    settings = config(ssd_dir)
    del settings["steps_per_print"]
    engine, optimizer, _, scheduler = smartinfinity.initialize(model, config=settings, flavour="torch")
    with engine:
        for batch in data:
            engine.backward(loss_of(engine, batch[:2]))
            engine.step()
        assert engine.global_steps == 6 and optimizer.applied_steps == 6
        assert scheduler.last_batch_iteration == 5
    assert max_relative_difference(parameters_of(model), parameters_of(reference)) <= TOLERANCE
