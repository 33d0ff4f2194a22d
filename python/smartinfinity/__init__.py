"""torch.optim optimizers whose states live on SmartInfinity's (emulated) SmartSSD devices.

    import smartinfinity
    opt = smartinfinity.AdamW(model.parameters(), lr=1e-3, devices=2, mode="su+o")
    engine, opt, loader, scheduler = smartinfinity.initialize(model=model, config="ds_config.json")

See docs/PYTORCH.md in the repository.
"""

from ._library import SmartInfError, load_library
from .engine import Engine, initialize
from .lr_schedules import DeepSpeedScheduler, WarmupCosineLR, WarmupDecayLR, WarmupLR
from .optim import AdamW, SGD, Adagrad, OffloadedOptimizer

__all__ = ["AdamW", "SGD", "Adagrad", "OffloadedOptimizer", "SmartInfError", "load_library", "initialize", "Engine",
           "DeepSpeedScheduler", "WarmupLR", "WarmupDecayLR", "WarmupCosineLR"]
