"""`smartinfinity.initialize(model, config=...)`: a DeepSpeed-style config, read by the library (the
reader `smartinf train --config` uses), turned into an optimizer on the devices, DeepSpeed's
scheduler and an engine that runs gradient accumulation and fp16 loss scaling as DeepSpeed's does.
"""

import json
import os
import warnings

import torch

from ._library import read_config
from .lr_schedules import DeepSpeedScheduler
from .optim import SGD, Adagrad, AdamW

_OPTIMIZERS = {"adamw": AdamW, "sgd": SGD, "adagrad": Adagrad}

#: The optimizer's hyperparameters a config may set, by optimizer, in the library's names (which
#: are torch's).
_HYPERPARAMETERS = {"adamw": ("lr", "betas", "eps", "weight_decay"), "sgd": ("lr", "momentum", "weight_decay"),
                    "adagrad": ("lr", "eps", "weight_decay")}

#: Offload settings a config may set: the library's names are the optimizers' keyword arguments.
_OFFLOAD = ("devices", "mode", "topk_ratio", "error_feedback", "dram", "ssd_dir", "subgroup_elements", "max_grad_norm",
            "loss_scaling", "queue_depth", "block_size")


class Engine:
    """The model with its optimizer, scheduler and DeepSpeed's step discipline (what
    `deepspeed.initialize` returns first): call it as the model, then `backward(loss)` and
    `step()` on every micro-batch. `backward` scales the loss by the fp16 loss scale and by
    1/gradient_accumulation_steps; `step` steps the optimizer at the end of each
    `gradient_accumulation_steps` micro-batches, then the scheduler unless an fp16 overflow
    skipped the update, then zeroes the gradients."""

    def __init__(self, module, optimizer, lr_scheduler, micro_batch_size, gradient_accumulation_steps):
        self.module = module
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self._micro_batch_size = micro_batch_size
        self._accumulation = gradient_accumulation_steps
        self.micro_steps = 0
        self.global_steps = 0
        self.skipped_steps = 0

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def backward(self, loss):
        """Back-propagates `loss` × loss scale / gradient_accumulation_steps."""
        factor = self.optimizer.loss_scale / self._accumulation
        (loss * factor if factor != 1 else loss).backward()

    def is_gradient_accumulation_boundary(self):
        """Whether the next `step()` ends an accumulation (and updates)."""
        return (self.micro_steps + 1) % self._accumulation == 0

    def step(self):
        """Ends a micro-batch; on the last of a step's micro-batches, updates."""
        boundary = self.is_gradient_accumulation_boundary()
        self.micro_steps += 1
        if not boundary:
            return
        self.optimizer.step()
        if self.optimizer.last_step_skipped:
            self.skipped_steps += 1
        elif self.lr_scheduler is not None:
            self.lr_scheduler.step()
        self.optimizer.zero_grad()
        self.global_steps += 1

    def zero_grad(self):
        self.optimizer.zero_grad()

    def gradient_accumulation_steps(self):
        return self._accumulation

    def train_micro_batch_size_per_gpu(self):
        return self._micro_batch_size

    def train_batch_size(self):
        return None if self._micro_batch_size is None else self._micro_batch_size * self._accumulation

    def get_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def close(self):
        self.optimizer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def initialize(model, config, model_parameters=None, **offload):
    """An engine, its optimizer on the devices and DeepSpeed's scheduler from a DeepSpeed-style
    config (a dict, or the path of a JSON file), in the shape `deepspeed.initialize` returns:
    `(engine, optimizer, None, lr_scheduler)` (no data loader; the scheduler is None without a
    `scheduler` section).

    The config takes the keys `smartinf train --config` takes (docs/TRAINING.md): the library
    reads it, so a wrong type or an unknown key inside a section is a ValueError naming the key,
    and top-level keys it does not read are named in a warning. `fp16`/`bf16` convert the model
    as DeepSpeed does (`model.half()`, `model.bfloat16()`); `model_parameters` (default
    `model.parameters()`) may be param groups. Keyword arguments override the config's offload
    settings (`devices=4`, `ssd_dir=...`), as flags override it on the command line.
    """
    if isinstance(config, dict):
        text, source = json.dumps(config), "dict"
    elif isinstance(config, (str, os.PathLike)):
        with open(config, encoding="utf-8") as file:
            text, source = file.read(), str(config)
    else:
        raise TypeError(f"config must be a dict or the path of a JSON file, got {type(config).__name__}")
    settings = read_config(text, source)
    if settings["ignored_keys"]:
        warnings.warn(f"config {source}: ignoring {', '.join(settings['ignored_keys'])}", stacklevel=2)
    precision = settings.get("precision")
    if precision == "fp16":
        model.half()
    elif precision == "bf16":
        model.bfloat16()
    kind = settings.get("optimizer", "adamw")
    chosen = {key: settings[key] for key in _HYPERPARAMETERS[kind] if key in settings}
    # DeepSpeed's optimizers default to no weight decay.
    chosen.setdefault("weight_decay", 0.0)
    if "flavour" in settings:
        chosen["flavour"] = settings["flavour"]
    chosen.update({key: settings[key] for key in _OFFLOAD if key in settings})
    chosen.update(offload)
    parameters = model.parameters() if model_parameters is None else model_parameters
    optimizer = _OPTIMIZERS[kind](parameters, **chosen)
    scheduler = None
    if "scheduler" in settings:
        try:
            scheduler = DeepSpeedScheduler(optimizer, json.loads(text)["scheduler"])
        except Exception:
            optimizer.close()
            raise
    engine = Engine(model, optimizer, scheduler, settings.get("train_micro_batch_size_per_gpu"),
                    settings.get("gradient_accumulation_steps", 1))
    return engine, optimizer, None, scheduler
