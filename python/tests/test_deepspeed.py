"""DeepSpeed's face: its schedulers, `initialize` with a DeepSpeed-style config, gradient accumulation
through the engine."""

import argparse
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


# -- initialize with deepspeed.initialize's arguments ----------------------------------------------

def small_config(ssd_dir, **extra):
    """A config with no optimizer or scheduler section, for the client objects."""
    return {"train_micro_batch_size_per_gpu": 2, "smartinf": {"devices": 1, "dram": "16MiB", "ssd_dir": ssd_dir}, **extra}


def test_initialize_takes_deepspeeds_signature_and_the_model_first_form(ssd_dir, tmp_path):
    path = tmp_path / "ds_config.json"
    path.write_text(json.dumps(small_config(ssd_dir)))
    model = make_model()
    for call in (lambda: smartinfinity.initialize(model=model, config=small_config(ssd_dir)),
                 lambda: smartinfinity.initialize(model=model, config_params=small_config(ssd_dir)),
                 lambda: smartinfinity.initialize(argparse.Namespace(deepspeed_config=str(path), local_rank=0), model),
                 lambda: smartinfinity.initialize(model, small_config(ssd_dir)),
                 lambda: smartinfinity.initialize(model, config=str(path))):
        engine, optimizer, loader, scheduler = call()
        with engine:
            assert engine.module is model and engine.optimizer is optimizer and isinstance(optimizer, smartinfinity.AdamW)
            assert loader is None and scheduler is None and engine.train_micro_batch_size_per_gpu() == 2
    with pytest.raises(ValueError, match=r"give the config once: .* \(got config and args.deepspeed_config\)"):
        smartinfinity.initialize(argparse.Namespace(deepspeed_config=str(path)), model=model, config=small_config(ssd_dir))
    with pytest.raises(ValueError, match="give the config once"):
        smartinfinity.initialize(model=model)
    with pytest.raises(ValueError, match="mpu: model parallelism is not supported"):
        smartinfinity.initialize(model=model, config=small_config(ssd_dir), mpu=object())
    with pytest.raises(TypeError, match="initialize needs the model"):
        smartinfinity.initialize(config=small_config(ssd_dir))


def test_model_parameters_give_the_param_groups(ssd_dir):
    model = make_model()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0, "lr": 1e-4}]
    engine, optimizer, _, _ = smartinfinity.initialize(
        model=model, model_parameters=groups,
        config=small_config(ssd_dir, optimizer={"type": "AdamW", "params": {"lr": 2e-3, "weight_decay": 0.05}}))
    with engine:
        assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in optimizer.param_groups] == [
            (2e-3, 0.1, len(decay)), (1e-4, 0.0, len(rest))]
        engine.backward(loss_of(engine, batches(1)[0]))
        engine.step()
        assert optimizer.applied_steps == 1


def loss_of(model, batch):
    return nn.functional.cross_entropy(model(batch[:, :-1]).reshape(-1, 32), batch[:, 1:].reshape(-1))


def test_a_client_scheduler_is_a_callable_or_an_object_of_the_engines_optimizer(ssd_dir):
    model = make_model()
    halving = lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** step)
    engine, optimizer, _, scheduler = smartinfinity.initialize(
        model=model, config=small_config(ssd_dir, optimizer={"type": "AdamW", "params": {"lr": 4e-3}}), lr_scheduler=halving)
    with engine:
        assert isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR) and scheduler.optimizer is optimizer
        for _ in range(2):
            engine.backward(loss_of(engine, batches(1)[0]))
            engine.step()
        assert engine.get_lr() == [1e-3]

    # An object: of the smartinfinity optimizer passed in, it is used as it is.
    own = smartinfinity.AdamW(model.parameters(), lr=4e-3, devices=1, ssd_dir=ssd_dir + "-own", dram="16MiB")
    step_down = torch.optim.lr_scheduler.StepLR(own, step_size=1, gamma=0.1)
    engine, optimizer, _, scheduler = smartinfinity.initialize(
        model=model, optimizer=own, lr_scheduler=step_down, config={"train_micro_batch_size_per_gpu": 2})
    with engine:
        assert optimizer is own and scheduler is step_down
        engine.backward(loss_of(engine, batches(1)[0]))
        engine.step()
        assert engine.get_lr() == pytest.approx([4e-4])

    # An object of another optimizer would schedule nothing the engine steps.
    elsewhere = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(make_model().parameters(), lr=1.0), step_size=1)
    with pytest.raises(ValueError, match="schedules another optimizer \\(a SGD\\).*pass a callable"):
        smartinfinity.initialize(model=model, config=small_config(ssd_dir), lr_scheduler=elsewhere)
    with pytest.raises(ValueError, match="config key 'scheduler' and the lr_scheduler argument both give the scheduler"):
        smartinfinity.initialize(model=model, config=small_config(ssd_dir, scheduler={"type": "WarmupLR"}), lr_scheduler=halving)


def test_training_data_is_served_in_micro_batches_through_collate_fn(ssd_dir):
    samples = torch.arange(10).reshape(10, 1)
    dataset = torch.utils.data.TensorDataset(samples)
    seen = []
    collate = lambda items: seen.append(len(items)) or torch.cat([item[0] for item in items])
    engine, _, loader, _ = smartinfinity.initialize(model=make_model(), training_data=dataset, collate_fn=collate,
                                                    config=small_config(ssd_dir))
    with engine:
        assert engine.training_dataloader is loader
        batches_ = list(loader)
        assert [len(b) for b in batches_] == [2] * 5 and seen == [2] * 5
        assert sorted(torch.cat(batches_).tolist()) == list(range(10))
    # DeepSpeed's batch keys give the micro-batch size: 8 = micro × 2 steps.
    engine, _, loader, _ = smartinfinity.initialize(
        model=make_model(), training_data=dataset,
        config={"train_batch_size": 8, "gradient_accumulation_steps": 2, "train_micro_batch_size_per_gpu": "auto",
                "smartinf": {"devices": 1, "dram": "16MiB", "ssd_dir": ssd_dir}})
    with engine:
        assert loader.batch_size == 4 and engine.gradient_accumulation_steps() == 2
    for batch_keys, said in (({}, ""), ({"train_micro_batch_size_per_gpu": "auto"}, ".* \\(it is \"auto\"")):
        with pytest.raises(ValueError, match="training_data needs config key 'train_micro_batch_size_per_gpu'" + said):
            smartinfinity.initialize(model=make_model(), training_data=dataset,
                                     config={"smartinf": {"devices": 1, "ssd_dir": ssd_dir}, **batch_keys})
    with pytest.raises(TypeError, match="training_data must be a torch.utils.data.Dataset, got list"):
        smartinfinity.initialize(model=make_model(), training_data=[1, 2], config=small_config(ssd_dir))
    with pytest.raises(ValueError, match="collate_fn is for training_data"):
        smartinfinity.initialize(model=make_model(), collate_fn=collate, config=small_config(ssd_dir))


def test_auto_values_resolve_from_the_model_and_the_optimizer_or_are_refused_by_name(ssd_dir):
    auto = {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": "auto", "gradient_clipping": "auto",
            "optimizer": {"type": "AdamW", "params": {"lr": 3e-3, "betas": "auto", "eps": "auto", "weight_decay": "auto"}},
            "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                                                         "warmup_num_steps": 4, "warmup_type": "linear"}},
            "fp16": {"enabled": "auto"}, "bf16": {"enabled": "auto"},
            "zero_optimization": {"stage": 3, "reduce_bucket_size": "auto", "sub_group_size": "auto"},
            "smartinf": {"devices": 1, "dram": "16MiB", "ssd_dir": ssd_dir}}
    model = make_model()
    engine, optimizer, _, scheduler = smartinfinity.initialize(model=model, config=auto)
    with engine:
        # fp32 model: neither 16-bit mode; the optimizer's defaults where "auto" (DeepSpeed's 0
        # weight decay); the warm-up climbs to the optimizer's lr.
        assert next(model.parameters()).dtype == torch.float32 and optimizer.loss_scale == 1
        assert optimizer.defaults["betas"] == (0.9, 0.999) and optimizer.defaults["eps"] == 1e-8
        assert optimizer.defaults["weight_decay"] == 0.0 and engine.gradient_accumulation_steps() == 1
        assert engine.get_lr() == [0.0]
        for _ in range(5):
            scheduler.step()
        assert engine.get_lr() == [3e-3]
    half = make_model().half()
    engine, optimizer, _, _ = smartinfinity.initialize(model=half, config=auto)
    with engine:
        assert next(half.parameters()).dtype == torch.float16 and optimizer.loss_scale == 65536
    for key, section in (("optimizer.type", {"optimizer": {"type": "auto"}}),
                         ("scheduler.params.total_num_steps", {"scheduler": {"type": "WarmupDecayLR",
                                                                             "params": {"total_num_steps": "auto"}}}),
                         ("scheduler.params.warmup_num_steps", {"scheduler": {"type": "WarmupLR",
                                                                              "params": {"warmup_num_steps": "auto"}}})):
        with pytest.raises(ValueError, match=f"config key '{key}' is \"auto\", which nothing given to initialize resolves"):
            smartinfinity.initialize(model=make_model(), config=small_config(ssd_dir, **section))


def test_a_client_torch_optimizer_gives_its_class_hyperparameters_groups_and_state(ssd_dir):
    model = make_model()
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    client = torch.optim.AdamW([{"params": matrices}, {"params": rest, "weight_decay": 0.0}], lr=2e-3, betas=(0.9, 0.95),
                               weight_decay=0.1)
    data = batches(2)
    for batch in data:
        client.zero_grad()
        loss_of(model, batch).backward()
        client.step()
    engine, optimizer, _, _ = smartinfinity.initialize(model=model, optimizer=client, config=small_config(ssd_dir))
    with engine:
        assert type(optimizer) is smartinfinity.AdamW
        assert optimizer.defaults["betas"] == (0.9, 0.95) and optimizer.defaults["lr"] == 2e-3
        assert [(g["weight_decay"], len(g["params"])) for g in optimizer.param_groups] == [(0.1, len(matrices)), (0.0, len(rest))]
        # The client's two steps came along: its moments, on the devices.
        assert optimizer.applied_steps == 2
        ours, theirs = optimizer.state_dict()["state"], client.state_dict()["state"]
        assert all(torch.equal(ours[i]["exp_avg"], theirs[i]["exp_avg"]) for i in theirs)

    # A callable makes the torch optimizer from the parameters, as DeepSpeed calls it.
    engine, optimizer, _, _ = smartinfinity.initialize(
        model=make_model(), optimizer=lambda parameters: torch.optim.SGD(parameters, lr=0.1, momentum=0.9),
        config=small_config(ssd_dir))
    with engine:
        assert type(optimizer) is smartinfinity.SGD and optimizer.defaults["momentum"] == 0.9

    with pytest.raises(TypeError, match="optimizer: a Adam is not one smartinfinity stands in for"):
        smartinfinity.initialize(model=model, optimizer=torch.optim.Adam(model.parameters()), config=small_config(ssd_dir))
    with pytest.raises(ValueError, match="config key 'optimizer' and the optimizer argument both give the optimizer"):
        smartinfinity.initialize(model=model, optimizer=client, config=small_config(ssd_dir, optimizer={"type": "SGD"}))
    own = smartinfinity.AdamW(model.parameters(), devices=1, ssd_dir=ssd_dir + "-own", dram="16MiB")
    with own:
        with pytest.raises(ValueError, match="config key 'devices' cannot apply to the optimizer argument, a smartinfinity "
                                             "optimizer already on its devices"):
            smartinfinity.initialize(model=model, optimizer=own, config=small_config(ssd_dir))
        with pytest.raises(ValueError, match="config key 'gradient_clipping' cannot apply"):
            smartinfinity.initialize(model=model, optimizer=own, config={"gradient_clipping": 1.0})
