"""`smartinfinity.initialize(model=..., config=...)`: `deepspeed.initialize`'s signature; a
DeepSpeed-style config, read by the library (the reader `smartinf train --config` uses), turned into
an optimizer on the devices, DeepSpeed's scheduler, a training data loader and an engine that runs
gradient accumulation and fp16 loss scaling as DeepSpeed's does.
"""

import inspect
import json
import os
import warnings

import torch
from torch import nn

from ._library import read_config
from .lr_schedules import DeepSpeedScheduler
from .optim import SGD, Adagrad, AdamW, OffloadedOptimizer

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

    def __init__(self, module, optimizer, lr_scheduler, micro_batch_size, gradient_accumulation_steps,
                 training_dataloader=None):
        self.module = module
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.training_dataloader = training_dataloader
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


def initialize(args=None, model=None, optimizer=None, model_parameters=None, training_data=None, lr_scheduler=None,
               mpu=None, dist_init_required=None, collate_fn=None, config=None, config_params=None, **offload):
    """`deepspeed.initialize` with the optimizer on the devices: returns `(engine, optimizer,
    training_dataloader, lr_scheduler)`.

    The config (`config`, or DeepSpeed's alias `config_params`, or `args.deepspeed_config`; a dict
    or the path of a JSON file) takes the keys `smartinf train --config` takes (docs/TRAINING.md):
    the library reads it, so a wrong type or an unknown key inside a section is a ValueError
    naming the key, and top-level keys it does not read are named in a warning. DeepSpeed's
    "auto" values are resolved from what is given here, as Hugging Face's integration resolves
    them from its arguments (`_resolve_auto`); those nothing here can know are refused, naming
    the key. `fp16`/`bf16` convert the model as DeepSpeed does (`model.half()`,
    `model.bfloat16()`).

    - `model_parameters`: the parameters or param groups to optimize (default
      `model.parameters()`).
    - `optimizer`: a `torch.optim.AdamW`, `SGD` or `Adagrad` (or a callable that makes one from
      the parameters, as DeepSpeed takes): its class, hyperparameters and param groups make the
      smartinfinity optimizer, which takes its state too if it has stepped; or a smartinfinity
      optimizer, used as it is. Not together with the config's `optimizer` section.
    - `lr_scheduler`: a callable that makes a scheduler from the optimizer (as DeepSpeed and
      Hugging Face pass it), or a scheduler object of the optimizer the engine uses. Not together
      with the config's `scheduler` section.
    - `training_data`: a torch Dataset, served by a DataLoader of `train_micro_batch_size_per_gpu`
      samples per batch, shuffled as DeepSpeed's is, through `collate_fn`.
    - `mpu` (model parallelism) is refused; `dist_init_required` is accepted and unused (one
      process, no process group).

    Keyword arguments beyond DeepSpeed's override the config's offload settings (`devices=4`,
    `ssd_dir=...`), as flags override it on the command line. `initialize(model, config)` and
    `initialize(model, config=...)` (the model first, as this function took it before it took
    DeepSpeed's signature) still work.
    """
    if isinstance(args, nn.Module):
        if model is None:
            model, args = args, None
        elif not isinstance(model, nn.Module) and config is None:
            model, config, args = args, model, None
        else:
            raise TypeError("args is a torch module and model is given too: pass the model as model=")
    if model is None:
        raise TypeError("initialize needs the model (model=...)")
    if mpu is not None:
        raise ValueError("mpu: model parallelism is not supported (the model runs whole in this process)")
    given = [(name, value) for name, value in (("config", config), ("config_params", config_params),
                                               ("args.deepspeed_config", getattr(args, "deepspeed_config", None)))
             if value is not None]
    if len(given) != 1:
        raise ValueError("give the config once: as config=, config_params= or args.deepspeed_config"
                         + (f" (got {' and '.join(name for name, _ in given)})" if given else ""))
    raw, source = _load_config(given[0][1])
    resolved = _resolve_auto(raw, model)
    settings = read_config(json.dumps(resolved), source)
    if settings["ignored_keys"]:
        warnings.warn(f"config {source}: ignoring {', '.join(settings['ignored_keys'])}", stacklevel=2)
    if lr_scheduler is not None and "scheduler" in settings:
        raise ValueError("config key 'scheduler' and the lr_scheduler argument both give the scheduler; give one")
    micro_batch = settings.get("train_micro_batch_size_per_gpu")
    loader = None
    if training_data is not None:
        loader = _training_loader(training_data, micro_batch, collate_fn, raw)
    elif collate_fn is not None:
        raise ValueError("collate_fn is for training_data, which was not given")
    optimizer = _optimizer(optimizer, model, model_parameters, settings, offload)
    try:
        if lr_scheduler is not None:
            scheduler = _client_scheduler(lr_scheduler, optimizer)
        elif "scheduler" in settings:
            section = json.loads(json.dumps(resolved["scheduler"]))
            if raw["scheduler"].get("params", {}).get("warmup_max_lr") == "auto":
                section["params"]["warmup_max_lr"] = optimizer.defaults["lr"]
            scheduler = DeepSpeedScheduler(optimizer, section)
        else:
            scheduler = None
    except Exception:
        optimizer.close()
        raise
    engine = Engine(model, optimizer, scheduler, micro_batch, settings.get("gradient_accumulation_steps", 1), loader)
    return engine, optimizer, loader, scheduler


def _load_config(config):
    """The config as a dict, and its name in messages."""
    if isinstance(config, dict):
        return json.loads(json.dumps(config)), "dict"
    if isinstance(config, (str, os.PathLike)):
        with open(config, encoding="utf-8") as file:
            try:
                return json.load(file), str(config)
            except json.JSONDecodeError as error:
                raise ValueError(f"config {config}: is not valid JSON ({error})") from None
    raise TypeError(f"config must be a dict or the path of a JSON file, got {type(config).__name__}")


#: "auto" keys nothing given to initialize can resolve, and why (Hugging Face's integration
#: takes them from its TrainingArguments, which this has no counterpart of).
_UNRESOLVABLE = {
    "optimizer.type": "names no optimizer (give its type, or the optimizer argument)",
    "scheduler.type": "names no scheduler (give its type, or the lr_scheduler argument)",
    "scheduler.params.warmup_num_steps": "depends on the run's length, which only the training loop knows",
    "scheduler.params.total_num_steps": "depends on the run's length, which only the training loop knows",
}


def _resolve_auto(config, model):
    """The config with DeepSpeed's "auto" values resolved from what `initialize` is given, as
    Hugging Face's integration resolves them from its arguments: `fp16.enabled` and
    `bf16.enabled` from the model's dtype; `scheduler.params.warmup_max_lr` from the optimizer's
    lr (filled in once the optimizer exists; left out here); any other "auto" left out, so that
    it takes its default or what DeepSpeed derives from the other batch keys. The keys of
    `_UNRESOLVABLE` are refused, naming them."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    from_model = {"fp16.enabled": dtype == torch.float16, "bf16.enabled": dtype == torch.bfloat16}

    def resolve(node, prefix):
        out = {}
        for key, value in node.items():
            name = prefix + key
            if isinstance(value, dict):
                out[key] = resolve(value, name + ".")
            elif isinstance(value, str) and value == "auto":
                if name in _UNRESOLVABLE:
                    raise ValueError(f"config key '{name}' is \"auto\", which nothing given to initialize resolves: it "
                                     f"{_UNRESOLVABLE[name]}; give a value")
                if name in from_model:
                    out[key] = from_model[name]
            else:
                out[key] = value
        return out

    return resolve(config, "")


def _training_loader(dataset, micro_batch, collate_fn, raw):
    """DeepSpeed's training loader: `micro_batch` samples a batch, in random order (not for an
    iterable dataset, which has its own order), through `collate_fn`."""
    if not isinstance(dataset, torch.utils.data.Dataset):
        raise TypeError(f"training_data must be a torch.utils.data.Dataset, got {type(dataset).__name__}")
    if micro_batch is None:
        said = " (it is \"auto\", which nothing here resolves)" if raw.get("train_micro_batch_size_per_gpu") == "auto" else ""
        raise ValueError(f"training_data needs config key 'train_micro_batch_size_per_gpu' (the loader's batch size), or "
                         f"train_batch_size and gradient_accumulation_steps to derive it{said}")
    iterable = isinstance(dataset, torch.utils.data.IterableDataset)
    return torch.utils.data.DataLoader(dataset, batch_size=micro_batch, shuffle=not iterable, collate_fn=collate_fn)


#: The torch optimizers whose class, hyperparameters and param groups make ours.
_TORCH_OPTIMIZERS = {torch.optim.AdamW: AdamW, torch.optim.SGD: SGD, torch.optim.Adagrad: Adagrad}


def _optimizer(client, model, model_parameters, settings, offload):
    """The engine's optimizer: from the config, from a client torch optimizer (or a callable
    making one), or a client smartinfinity optimizer as it is."""
    if client is not None and "optimizer" in settings:
        raise ValueError("config key 'optimizer' and the optimizer argument both give the optimizer; give one")
    if isinstance(client, OffloadedOptimizer):
        return _as_given(client, settings, offload)
    _convert(model, settings.get("precision"))
    parameters = model.parameters() if model_parameters is None else model_parameters
    # Keyword arguments win over the config, as flags do on the command line.
    chosen = {key: settings[key] for key in _OFFLOAD if key in settings}
    if client is None:
        kind = settings.get("optimizer", "adamw")
        # DeepSpeed's optimizers default to no weight decay.
        chosen.update({"weight_decay": 0.0, **{key: settings[key] for key in (*_HYPERPARAMETERS[kind], "flavour") if key in settings}})
        return _OPTIMIZERS[kind](parameters, **{**chosen, **offload})
    if not isinstance(client, torch.optim.Optimizer) and callable(client):
        client = client(parameters)
    ours = _TORCH_OPTIMIZERS.get(type(client))
    if ours is None:
        raise TypeError(f"optimizer: a {type(client).__name__} is not one smartinfinity stands in for; give a "
                        "torch.optim.AdamW, SGD or Adagrad, a callable that makes one from the parameters, a smartinfinity "
                        "optimizer, or the config's optimizer section")
    accepted = inspect.signature(ours.__init__).parameters
    hyperparameters = {key: value for key, value in client.defaults.items()
                       if key in accepted and key not in ("foreach", "fused")}
    kept = {"params", "param_names", "lr", "weight_decay", "initial_lr", *ours._fixed}
    groups = [{key: value for key, value in group.items() if key in kept} for group in client.param_groups if group["params"]]
    optimizer = ours(groups, **{**hyperparameters, **chosen, **offload})
    if client.state:
        try:
            optimizer.load_state_dict(client.state_dict())
        except Exception:
            optimizer.close()
            raise
    return optimizer


#: The config keys behind the library's names of the settings an optimizer is created with,
#: where they differ.
_CONFIG_KEYS = {"precision": "fp16/bf16", "loss_scaling": "fp16", "max_grad_norm": "gradient_clipping", "flavour": "optimizer",
                "subgroup_elements": "zero_optimization.sub_group_size"}


def _as_given(optimizer, settings, offload):
    """A client smartinfinity optimizer, which the config and keyword arguments must leave alone:
    it runs on its devices with the settings it was created with."""
    keys = [key for key in ("optimizer", "flavour", "precision", *_OFFLOAD, *set().union(*_HYPERPARAMETERS.values()))
            if key in settings]
    if keys or offload:
        what = f"config key '{_CONFIG_KEYS.get(keys[0], keys[0])}'" if keys else f"keyword argument {next(iter(offload))}"
        raise ValueError(f"{what} cannot apply to the optimizer argument, a smartinfinity optimizer already on its devices: "
                         "give its settings when creating it, or leave the optimizer to initialize")
    return optimizer


def _convert(model, precision):
    """Converts the model to the config's 16-bit precision, as DeepSpeed does."""
    if precision == "fp16":
        model.half()
    elif precision == "bf16":
        model.bfloat16()


def _client_scheduler(scheduler, optimizer):
    """A client scheduler: made by a callable from the optimizer, or an object that schedules it
    (or no optimizer at all)."""
    if callable(scheduler) and not hasattr(scheduler, "step"):
        return scheduler(optimizer)
    bound = getattr(scheduler, "optimizer", None)
    if bound is not None and bound is not optimizer:
        raise ValueError(f"lr_scheduler: the {type(scheduler).__name__} schedules another optimizer (a "
                         f"{type(bound).__name__}), not the smartinfinity one initialize made; pass a callable that makes "
                         "it from the optimizer instead, e.g. lr_scheduler=lambda optimizer: LambdaLR(optimizer, f)")
    return scheduler
