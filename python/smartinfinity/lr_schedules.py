"""DeepSpeed's learning-rate schedulers (WarmupLR, WarmupDecayLR, WarmupCosineLR) with DeepSpeed's
semantics, for any `torch.optim.Optimizer`.

The rates come from libsmartinfinity (smartinf_learning_rate), the code `smartinf train` runs for a
config's `scheduler` section, so the command and the package cannot disagree. As DeepSpeed's, a
scheduler sets every group's lr when created (iteration -1) and `step()` advances it by one; call
it after each *applied* optimizer step (the engine `initialize` returns does, and skips it when an
fp16 overflow skipped the step, as DeepSpeed's engine does).
"""

import json

from ._library import learning_rate


class DeepSpeedScheduler:
    """One of DeepSpeed's schedulers over `optimizer`'s param groups, from a config's `scheduler`
    section (`{"type": ..., "params": {...}}`)."""

    #: Params DeepSpeed lets a list give per param group.
    _per_group = ("warmup_min_lr", "warmup_max_lr")

    def __init__(self, optimizer, section, last_batch_iteration=-1):
        self.optimizer = optimizer
        groups = optimizer.param_groups
        params = dict(section.get("params", {}))
        configs = []
        for g in range(len(groups)):
            own = dict(params)
            for key in self._per_group:
                value = params.get(key)
                if isinstance(value, (list, tuple)):
                    if len(value) != len(groups):
                        raise ValueError(f"expected {len(groups)} value(s) for {key}, one per param group, got {len(value)}")
                    own[key] = value[g]
            configs.append(json.dumps({"scheduler": {**section, "params": own}}).encode())
        self._configs = configs
        #: WarmupCosineLR's base rates: the groups' lr when the scheduler is created.
        self.base_lrs = [float(group["lr"]) for group in groups]
        self.last_batch_iteration = last_batch_iteration
        self._last_lr = None
        # Refuses a bad section now (ValueError naming the key), whatever the iteration.
        self.get_lr()
        if last_batch_iteration == -1:
            self._apply()

    def get_lr(self):
        """Every group's rate at the current iteration."""
        applied = self.last_batch_iteration + 1
        return [learning_rate(config, base, applied) for config, base in zip(self._configs, self.base_lrs)]

    def get_last_lr(self):
        """The rates the last `step()` (or the creation) set."""
        if self._last_lr is None:
            raise RuntimeError("the scheduler has set no rate yet: call step() first")
        return self._last_lr

    def step(self, last_batch_iteration=None):
        """Advances one iteration (or to `last_batch_iteration`) and sets every group's lr."""
        self.last_batch_iteration = self.last_batch_iteration + 1 if last_batch_iteration is None else last_batch_iteration
        self._apply()

    def state_dict(self):
        return {"last_batch_iteration": self.last_batch_iteration}

    def load_state_dict(self, state_dict):
        self.last_batch_iteration = state_dict["last_batch_iteration"]

    def _apply(self):
        rates = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, rates):
            group["lr"] = lr
        self._last_lr = rates


class WarmupLR(DeepSpeedScheduler):
    """From `warmup_min_lr` to `warmup_max_lr` over `warmup_num_steps` (log or linear), then flat."""

    def __init__(self, optimizer, warmup_min_lr=0.0, warmup_max_lr=0.001, warmup_num_steps=1000, warmup_type="log",
                 last_batch_iteration=-1):
        super().__init__(optimizer, {"type": "WarmupLR", "params": dict(
            warmup_min_lr=warmup_min_lr, warmup_max_lr=warmup_max_lr, warmup_num_steps=warmup_num_steps,
            warmup_type=warmup_type)}, last_batch_iteration)


class WarmupDecayLR(DeepSpeedScheduler):
    """WarmupLR's warm-up, then linear decay to 0 at `total_num_steps`."""

    def __init__(self, optimizer, total_num_steps, warmup_min_lr=0.0, warmup_max_lr=0.001, warmup_num_steps=1000,
                 warmup_type="log", last_batch_iteration=-1):
        super().__init__(optimizer, {"type": "WarmupDecayLR", "params": dict(
            total_num_steps=total_num_steps, warmup_min_lr=warmup_min_lr, warmup_max_lr=warmup_max_lr,
            warmup_num_steps=warmup_num_steps, warmup_type=warmup_type)}, last_batch_iteration)


class WarmupCosineLR(DeepSpeedScheduler):
    """A ratio of each group's lr: from `warmup_min_ratio` to 1 over the warm-up, then a cosine to
    `cos_min_ratio` at `total_num_steps`. The first update runs at 0 in every group (DeepSpeed sets
    0 in the first group only, a quirk of its code, and leaves the others at their lr)."""

    def __init__(self, optimizer, total_num_steps, warmup_min_ratio=0.0, warmup_num_steps=1000, cos_min_ratio=0.0001,
                 warmup_type="log", last_batch_iteration=-1):
        super().__init__(optimizer, {"type": "WarmupCosineLR", "params": dict(
            total_num_steps=total_num_steps, warmup_min_ratio=warmup_min_ratio, warmup_num_steps=warmup_num_steps,
            cos_min_ratio=cos_min_ratio, warmup_type=warmup_type)}, last_batch_iteration)
