"""torch.optim optimizers whose states live on SmartInfinity's (emulated) SmartSSD devices.

    import smartinfinity
    opt = smartinfinity.AdamW(model.parameters(), lr=1e-3, devices=2, mode="su+o")

See docs/PYTORCH.md in the repository.
"""

from ._library import SmartInfError, load_library
from .optim import AdamW, SGD, Adagrad, OffloadedOptimizer

__all__ = ["AdamW", "SGD", "Adagrad", "OffloadedOptimizer", "SmartInfError", "load_library"]
