"""`torch.optim` optimizers whose states (fp32 masters and moments) live on the devices.

The update runs in libsmartinfinity (the step `smartinf train` runs around its model); Python only
hands over pointers. The parameters and their gradients are moved into the library's two flat
buffers (as DeepSpeed flattens them), so a step copies neither the gradients in nor the new
values out: at 124M parameters those two copies cost 11% of the step.
"""

import ctypes
import json
import tempfile
import warnings
import weakref

import torch

from ._library import SmartInfError, check, load_library, smartssd_path

_DTYPES = {torch.float32: (1, "fp32"), torch.float16: (2, "fp16"), torch.bfloat16: (3, "bf16")}
_MODES = ("base", "su", "su+o", "su+o+c")
#: The loss scaler's position in a state dict (smartinf_loss_scaler_position's values, in order).
_SCALER_KEYS = ("scale", "remaining_hysteresis", "iteration", "last_overflow_iteration")


def _close_handle(lib, handle, parameters):
    """Closes the library's optimizer, first giving every parameter and gradient memory of its own:
    they may live in the library's flat buffers, which close frees, and the model outlives its
    optimizer."""
    for p in parameters:
        p.data = p.data.clone()
        if p.grad is not None:
            p.grad = p.grad.clone()
    lib.smartinf_close(handle)


class OffloadedOptimizer(torch.optim.Optimizer):
    """The common part of `AdamW`, `SGD` and `Adagrad`: a `torch.optim.Optimizer` whose step runs
    on `devices` emulated SmartSSDs.

    Offload settings (keyword-only): `devices`, `mode` ("base", "su", "su+o", "su+o+c"),
    `topk_ratio` and `error_feedback` (su+o+c), `ssd_dir`, `dram`, `max_grad_norm`,
    `on_device_failure` ("abort" or "retry"), `flavour` ("torch": torch's update rule, the
    default; "reference": the paper's rules, as in the Swift trainer), `loss_scaling` (fp16
    parameters: a dict of `initial_scale`, `dynamic`, `window`, `hysteresis`, `min_scale`;
    DeepSpeed's defaults 2**16, True, 1000, 2, 1), `queue_depth` and `block_size` (base mode's
    io_uring), `resume` (go on from the devices in `ssd_dir` after a process that used them died:
    the parameters come back from the devices' fp32 masters, and `steps_taken` says where the
    run stands; nothing to resume starts afresh), `state_precision` ("fp32", the default, or
    "8bit": the states stored as one byte an element with an fp32 scale per `state_block`
    elements, default 2048; the update itself stays fp32).

    Parameters may be float32, or float16/bfloat16 with fp32 masters on the devices, which write
    the new values back in the parameters' dtype. fp16 gradients must carry the loss scale:
    `scale_loss(loss).backward()`; a step whose gradient overflows is skipped everywhere and the
    scale lowered, as DeepSpeed's dynamic loss scaler does. Or `torch.amp.GradScaler` keeps the
    scale, as with torch.optim: `scaler.scale(loss).backward(); scaler.step(opt); scaler.update()`.
    """

    #: torch.amp.GradScaler.step hands over its scale and what its overflow check found
    #: (`grad_scale` and `found_inf`, set on the optimizer for the call) instead of unscaling the
    #: gradients itself, which it refuses for fp16 ones: the library removes the scale once,
    #: folded into the update's one gradient factor, and skips the step the scaler skips.
    _step_supports_amp_scaling = True

    #: The optimizer's name in the library, its torch state names in rule order, and the
    #: hyperparameters a param group may not change (lr and weight_decay may differ per group).
    _kind = None
    _state_names = ()
    _fixed = ()

    def __init__(self, params, defaults, *, devices=1, mode="su+o", topk_ratio=0.01, error_feedback=False,
                 ssd_dir=None, dram="1GiB", max_grad_norm=None, on_device_failure="abort", max_retries=3,
                 flavour="torch", subgroup_elements=0, device_faults=None, smartssd=None, loss_scaling=None,
                 queue_depth=16, block_size=1 << 20, resume=False, state_precision="fp32", state_block=2048):
        self._handle = None
        super().__init__(params, defaults)
        if mode not in _MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(_MODES)}")
        if flavour not in ("torch", "reference"):
            raise ValueError(f"flavour {flavour!r} is not 'torch' or 'reference'")
        if on_device_failure not in ("abort", "retry"):
            raise ValueError(f"on_device_failure {on_device_failure!r} is not 'abort' or 'retry'")
        if state_precision not in ("fp32", "8bit"):
            raise ValueError(f"state_precision {state_precision!r} is not 'fp32' or '8bit'")
        self._tensors = []
        self._dtype = None
        for g, group in enumerate(self.param_groups):
            for key in self._fixed:
                if group[key] != defaults[key]:
                    raise ValueError(f"param group {g} sets {key}={group[key]!r}; only lr and weight_decay may differ "
                                     f"between groups (the optimizer's {key} is {defaults[key]!r})")
            names = group.get("param_names")
            for i, p in enumerate(group["params"]):
                name = names[i] if names else f"parameter {i} of param group {g} (shape {tuple(p.shape)})"
                self._check_tensor(p, name, "parameter")
                self._tensors.append((p, name, g))
        if not self._tensors:
            raise ValueError("the optimizer got no parameters")
        self._error_feedback = mode == "su+o+c" and bool(error_feedback)
        self._ssd_dir = ssd_dir or tempfile.mkdtemp(prefix="smartinfinity-")
        config = dict(
            devices=devices, mode=mode, optimizer=self._kind, flavour=flavour, topk_ratio=topk_ratio,
            error_feedback=error_feedback, ssd_dir=str(self._ssd_dir), dram=dram, max_grad_norm=max_grad_norm,
            on_device_failure=on_device_failure, max_retries=max_retries, precision=_DTYPES[self._dtype][1],
            subgroup_elements=subgroup_elements, smartssd=smartssd or smartssd_path(), queue_depth=queue_depth,
            block_size=block_size, resume=resume, state_precision=state_precision, **self._hyperparameters(defaults))
        if loss_scaling is not None:
            config["loss_scaling"] = dict(loss_scaling)
        if state_precision == "8bit":
            config["state_block"] = state_block
        if device_faults:
            config["device_faults"] = {str(k): v for k, v in device_faults.items()}
        lib = load_library()
        handle = ctypes.c_void_p()
        check(lib.smartinf_create(json.dumps(config).encode(), ctypes.byref(handle)))
        self._lib, self._handle = lib, handle
        # Devices end with the optimizer, or with the interpreter at the latest.
        self._finalizer = weakref.finalize(self, _close_handle, lib, handle, [p for p, _, _ in self._tensors])
        code = _DTYPES[self._dtype][0]
        for p, _, g in self._tensors:
            check(lib.smartinf_register(handle, p.data_ptr(), p.numel(), code, g))
        self._set_groups()
        check(lib.smartinf_start(handle))
        self._move_into_flat_buffers()

    def _move_into_flat_buffers(self):
        """Makes every parameter, and every gradient it has, a view of the library's flat compute
        copy and gradient (same values), so that steps copy neither."""
        parameters, gradients = ctypes.c_void_p(), ctypes.c_void_p()
        check(self._lib.smartinf_flat_buffers(self._handle, ctypes.byref(parameters), ctypes.byref(gradients)))
        self._offsets = [0]
        for p, _, _ in self._tensors:
            self._offsets.append(self._offsets[-1] + p.numel())
        n = self._offsets[-1]
        self._flat = [torch.frombuffer((ctypes.c_char * (n * self._dtype.itemsize)).from_address(address.value), dtype=self._dtype)
                      for address in (parameters, gradients)]
        # Made once: zero_grad hands these out at every step.
        self._gradient_views = [self._flat_view(1, k) for k in range(len(self._tensors))]
        for k, (p, _, _) in enumerate(self._tensors):
            view = self._flat_view(0, k)
            view.copy_(p.data)
            p.data = view
            check(self._lib.smartinf_move_tensor(self._handle, k, p.data_ptr()))
            if p.grad is not None:
                self._gradient_views[k].copy_(p.grad)
                p.grad = self._gradient_views[k]
        self._pointers = [p.data_ptr() for p, _, _ in self._tensors]

    def _flat_view(self, buffer, k):
        """Tensor k's place in flat buffer 0 (parameters) or 1 (gradients), shaped as it."""
        return self._flat[buffer][self._offsets[k]:self._offsets[k + 1]].view_as(self._tensors[k][0])

    # -- what subclasses say ------------------------------------------------------------------

    def _hyperparameters(self, defaults):
        """The library's configuration keys for `defaults`."""
        raise NotImplementedError

    # -- torch.optim.Optimizer ----------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None):
        """One step on the devices; the new values are written into the parameters in place."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        handle = self._live_handle()
        self._set_groups()
        gradients = (ctypes.c_void_p * len(self._tensors))()
        for k, (p, name, _) in enumerate(self._tensors):
            if p.data_ptr() != self._registered_pointer(k):
                raise RuntimeError(f"{name}'s storage moved since the optimizer was created; parameters must stay in place")
            if p.grad is not None:
                self._check_tensor(p.grad, name, "gradient")
                gradients[k] = p.grad.data_ptr()
        skipped, norm = ctypes.c_int32(), ctypes.c_double()
        found_inf = getattr(self, "found_inf", None)
        if found_inf is None:
            check(self._lib.smartinf_step(handle, gradients, len(self._tensors), ctypes.byref(skipped), ctypes.byref(norm),
                                          None))
        else:
            # Called by torch.amp.GradScaler.step: the gradients carry its scale (None: its
            # unscale_ has divided them already), and its own check found found_inf in them.
            grad_scale = getattr(self, "grad_scale", None)
            scale = 1.0 if grad_scale is None else float(grad_scale)
            overflow = bool(found_inf.item())
            check(self._lib.smartinf_step_scaled(handle, gradients, len(self._tensors), scale, int(overflow),
                                                 ctypes.byref(skipped), ctypes.byref(norm)))
            if skipped.value and not overflow:
                warnings.warn("the step was skipped: a gradient is not finite, though torch.amp.GradScaler found every "
                              "gradient finite (was one changed after scaler.unscale_?); the scaler does not lower its "
                              "scale for this step", stacklevel=3)
        self.last_step_skipped = bool(skipped.value)
        self.last_grad_norm = norm.value
        return loss

    @property
    def loss_scale(self):
        """The scale the next step's gradients must carry: the dynamic loss scaler's for fp16
        parameters (lowered after overflows, raised after a window of clean steps), else 1. Steps
        driven by a torch.amp.GradScaler carry the GradScaler's scale and leave this one as it is."""
        out = ctypes.c_double()
        check(self._lib.smartinf_loss_scale(self._live_handle(), ctypes.byref(out)))
        return out.value

    def scale_loss(self, loss):
        """`loss` times the loss scale, to call `backward()` on (fp16; a no-op factor of 1 else)."""
        return loss * self.loss_scale

    def state_dict(self):
        """torch's layout (`state` by parameter index with torch's state names and `step`, and
        `param_groups`), read from the devices' committed states; with what else the run needs to
        go on bit-identically: `fp32_master` per parameter (float16/bfloat16 parameters: the
        devices' fp32 masters, of which the parameters are only the rounding), `error_feedback`
        per parameter and `error_feedback_steps` (su+o+c with error feedback: the residuals top-k
        has not sent yet), and `loss_scaler` (float16: the dynamic loss scaler's `scale`,
        `remaining_hysteresis`, `iteration`, `last_overflow_iteration`)."""
        per_parameter = {name: self._read_state(v + 1) for v, name in enumerate(self._state_names)}
        if self._dtype != torch.float32:
            per_parameter["fp32_master"] = self._read_state(0)
        extra = {}
        if self._error_feedback:
            residuals, steps = self._read_error_feedback()
            per_parameter["error_feedback"] = residuals
            extra["error_feedback_steps"] = steps
        if self._dtype == torch.float16:
            extra["loss_scaler"] = self._loss_scaler_position()
        step = float(self.applied_steps)
        state = {}
        offset = 0
        for k, (p, _, _) in enumerate(self._tensors):
            n = p.numel()
            entry = {"step": torch.tensor(step)}
            for name, values in per_parameter.items():
                entry[name] = values[offset:offset + n].view_as(p).clone()
            state[k] = entry
            offset += n
        groups = []
        index = 0
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key not in ("params", "param_names")}
            packed["params"] = list(range(index, index + len(group["params"])))
            index += len(group["params"])
            groups.append(packed)
        return {"state": state, "param_groups": groups, **extra}

    def load_state_dict(self, state_dict):
        """Loads a state dict of this optimizer (or of the torch optimizer it stands in for): the
        param groups' hyperparameters, and the states, which go onto the devices. What a torch
        optimizer's state dict lacks starts afresh: the masters from the parameters' values, zero
        residuals, the loss scaler at its initial scale."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(groups)} param group(s); the optimizer has {len(self.param_groups)}")
        for g, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"param group {g} of the state dict has {len(saved['params'])} parameter(s); "
                                 f"the optimizer's has {len(group['params'])}")
            for key in self._fixed:
                if key in saved and saved[key] != group[key]:
                    raise ValueError(f"param group {g} of the state dict has {key}={saved[key]!r}; this optimizer was "
                                     f"created with {group[key]!r} (create it with the saved value)")
        ids = [i for saved in groups for i in saved["params"]]
        entries = [state_dict["state"].get(i, {}) for i in ids]
        steps = {int(float(entry.get("step", 0))) for entry in entries}
        if len(steps) != 1:
            raise ValueError(f"the state dict's parameters have different step counts {sorted(steps)}; "
                             "this optimizer steps all its parameters together")
        initial = lambda p: torch.full_like(p, self._initial_state, dtype=torch.float32)
        flat = [self._saved_vector(entries, name, initial) for name in self._state_names]
        masters = self._saved_vector(entries, "fp32_master", lambda p: p)
        pointers = [f.data_ptr() for f in flat] + [None] * (2 - len(flat))
        check(self._lib.smartinf_load_state(self._live_handle(), masters.data_ptr(), pointers[0], pointers[1],
                                            masters.numel(), steps.pop()))
        if any("error_feedback" in entry for entry in entries):
            self._load_error_feedback(self._saved_vector(entries, "error_feedback", torch.zeros_like),
                                      int(state_dict.get("error_feedback_steps", 0)))
        if "loss_scaler" in state_dict:
            self._load_loss_scaler(state_dict["loss_scaler"])
        for group, saved in zip(self.param_groups, groups):
            for key, value in saved.items():
                if key not in ("params", "param_names"):
                    group[key] = value

    def _saved_vector(self, entries, key, default):
        """The flat fp32 vector of state `key` over every parameter, from the state dict's entries
        in parameter order; `default(p)` for a parameter whose entry has none (torch keeps no
        state for a parameter that never had a gradient)."""
        parts = []
        for (p, name, _), entry in zip(self._tensors, entries):
            value = entry.get(key)
            if value is None:
                value = default(p)
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"the state dict's {key} of {name} has shape {tuple(value.shape)}, expected {tuple(p.shape)}")
            parts.append(value.detach().to(torch.float32).reshape(-1))
        return torch.cat(parts).contiguous()

    def _load_error_feedback(self, residuals, completed_steps):
        if not self._error_feedback:
            warnings.warn("the state dict's error-feedback residuals are not used: this optimizer has no error feedback "
                          "(mode su+o+c with error_feedback=True)", stacklevel=3)
            return
        check(self._lib.smartinf_load_error_feedback(self._live_handle(), residuals.data_ptr(), residuals.numel(),
                                                     completed_steps))

    def _load_loss_scaler(self, position):
        if self._dtype != torch.float16:
            warnings.warn(f"the state dict's loss_scaler is not used: this optimizer's parameters are {self._dtype}, which "
                          "need none", stacklevel=3)
            return
        missing = [key for key in _SCALER_KEYS if key not in position]
        if missing:
            raise ValueError(f"the state dict's loss_scaler lacks {', '.join(missing)}")
        check(self._lib.smartinf_set_loss_scaler_position(
            self._live_handle(), float(position["scale"]), int(position["remaining_hysteresis"]), int(position["iteration"]),
            int(position["last_overflow_iteration"])))

    def _loss_scaler_position(self):
        scale, values = ctypes.c_double(), [ctypes.c_int64() for _ in range(3)]
        check(self._lib.smartinf_loss_scaler_position(self._live_handle(), ctypes.byref(scale),
                                                      *(ctypes.byref(v) for v in values)))
        return dict(zip(_SCALER_KEYS, [scale.value] + [v.value for v in values]))

    def _read_error_feedback(self):
        n = sum(p.numel() for p, _, _ in self._tensors)
        out, steps = torch.empty(n, dtype=torch.float32), ctypes.c_int64()
        check(self._lib.smartinf_read_error_feedback(self._live_handle(), out.data_ptr(), n, ctypes.byref(steps)))
        return out, steps.value

    # -- lifetime ------------------------------------------------------------------------------

    def zero_grad(self, set_to_none=True):
        """Zeroes the gradients in place, in the library's flat gradient buffer, whatever
        `set_to_none` says (a parameter without a gradient gets a zeroed one there): the step
        reads them there without a copy. A gradient set to None or replaced elsewhere still
        works; its step copies it."""
        if self._handle is None:
            return super().zero_grad(set_to_none)
        self._flat[1].zero_()
        for (p, _, _), view in zip(self._tensors, self._gradient_views):
            if p.grad is not view:
                p.grad = view

    def close(self):
        """Stops the devices (again is harmless). The parameters and gradients keep their values
        in memory of their own."""
        if self._handle is not None:
            self._finalizer()
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- helpers --------------------------------------------------------------------------------

    _initial_state = 0.0

    @property
    def applied_steps(self):
        out = ctypes.c_int64()
        check(self._lib.smartinf_applied_steps(self._live_handle(), ctypes.byref(out)))
        return out.value

    @property
    def steps_taken(self):
        """Steps taken, skipped ones included (after `resume=True`: where the resumed run stands)."""
        out = ctypes.c_int64()
        check(self._lib.smartinf_steps_taken(self._live_handle(), ctypes.byref(out)))
        return out.value

    @property
    def recoveries(self):
        """Device failures recovered from (on_device_failure="retry")."""
        out = ctypes.c_int64()
        check(self._lib.smartinf_recoveries(self._live_handle(), ctypes.byref(out)))
        return out.value

    def device_pid(self, device):
        """The process id of device `device` (for tests that kill one)."""
        out = ctypes.c_int32()
        check(self._lib.smartinf_device_pid(self._live_handle(), device, ctypes.byref(out)))
        return out.value

    def master_parameters(self):
        """The fp32 masters on the devices, flat, in parameter order."""
        return self._read_state(0)

    def _read_state(self, vector):
        n = sum(p.numel() for p, _, _ in self._tensors)
        out = torch.empty(n, dtype=torch.float32)
        check(self._lib.smartinf_read_state(self._live_handle(), vector, out.data_ptr(), n))
        return out

    def _registered_pointer(self, k):
        return self._pointers[k]

    def _set_groups(self):
        if not hasattr(self, "_pointers"):
            self._pointers = [p.data_ptr() for p, _, _ in self._tensors]
        for g, group in enumerate(self.param_groups):
            lr = group["lr"]
            lr = float(lr.item()) if isinstance(lr, torch.Tensor) else float(lr)
            check(self._lib.smartinf_set_group(self._handle, g, lr, float(group["weight_decay"])))

    def _check_tensor(self, t, name, what):
        if t.device.type != "cpu":
            raise ValueError(f"{name}: the {what} is on {t.device}; smartinfinity takes CPU tensors")
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: the {what} is {t.dtype}; smartinfinity takes float32, float16 or bfloat16")
        if self._dtype is None:
            self._dtype = t.dtype
        if t.dtype != self._dtype:
            raise TypeError(f"{name}: the {what} is {t.dtype}; the optimizer's parameters are {self._dtype}")
        if not t.is_contiguous():
            raise ValueError(f"{name}: the {what} is not contiguous; smartinfinity reads and writes it in place")
        if t.is_sparse:
            raise ValueError(f"{name}: the {what} is sparse; smartinfinity takes dense tensors")

    def _live_handle(self):
        if self._handle is None:
            raise SmartInfError(SmartInfError.BAD_STATE, "the optimizer is closed")
        return self._handle


def _refuse(name, value, default):
    if value != default:
        raise ValueError(f"{name}={value!r} is not supported by smartinfinity (only {default!r})")


def _require_non_negative(*labelled):
    """Refuses a negative hyperparameter with torch's own message ("Invalid learning rate: -1")."""
    for label, value in labelled:
        if not 0.0 <= value:
            raise ValueError(f"Invalid {label}: {value}")


class AdamW(OffloadedOptimizer):
    """`torch.optim.AdamW` with its states on the devices."""

    _kind = "adamw"
    _state_names = ("exp_avg", "exp_avg_sq")
    _fixed = ("betas", "eps")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None, **offload):
        _refuse("amsgrad", amsgrad, False)
        _refuse("maximize", maximize, False)
        _refuse("capturable", capturable, False)
        _refuse("differentiable", differentiable, False)
        _require_non_negative(("learning rate", lr), ("epsilon value", eps))
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameters: {betas}")
        _require_non_negative(("weight_decay value", weight_decay))
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=False, maximize=False)
        super().__init__(params, defaults, **offload)

    def _hyperparameters(self, d):
        return dict(lr=d["lr"], betas=list(d["betas"]), eps=d["eps"], weight_decay=d["weight_decay"])


class SGD(OffloadedOptimizer):
    """`torch.optim.SGD` (momentum, dampening, nesterov) with its momentum buffer on the devices."""

    _kind = "sgd"
    _state_names = ("momentum_buffer",)
    _fixed = ("momentum", "dampening", "nesterov")

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None, **offload):
        _refuse("maximize", maximize, False)
        _refuse("differentiable", differentiable, False)
        _require_non_negative(("learning rate", lr), ("momentum value", momentum), ("weight_decay value", weight_decay))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=False)
        super().__init__(params, defaults, **offload)

    def _hyperparameters(self, d):
        return dict(lr=d["lr"], momentum=d["momentum"], dampening=d["dampening"], weight_decay=d["weight_decay"],
                    nesterov=bool(d["nesterov"]))


class Adagrad(OffloadedOptimizer):
    """`torch.optim.Adagrad` with its sum of squares on the devices."""

    _kind = "adagrad"
    _state_names = ("sum",)
    _fixed = ("lr_decay", "eps", "initial_accumulator_value")

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None, **offload):
        _refuse("maximize", maximize, False)
        _refuse("differentiable", differentiable, False)
        _require_non_negative(("learning rate", lr), ("lr_decay value", lr_decay), ("weight_decay value", weight_decay),
                              ("initial_accumulator_value value", initial_accumulator_value), ("epsilon value", eps))
        self._initial_state = float(initial_accumulator_value)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=False)
        super().__init__(params, defaults, **offload)

    def _hyperparameters(self, d):
        return dict(lr=d["lr"], lr_decay=d["lr_decay"], eps=d["eps"], weight_decay=d["weight_decay"],
                    initial_accumulator_value=d["initial_accumulator_value"])
