/*
 * smartinf.h — the C ABI of libsmartinfinity.so: the optimizer step of SmartInfinity (the step
 * `smartinf train` runs around its model) for any caller's tensors, with the optimizer's states
 * on emulated SmartSSD devices.
 *
 * Build: swift build -c release --product smartinfinity   (.build/release/libsmartinfinity.so;
 * the `smartssd` device executable is built beside it by `swift build --product smartssd`).
 *
 * Every function returns 0 on success or one of the SMARTINF_E_* codes; the message of the
 * calling thread's last failure is smartinf_last_error(). No call aborts the process: bad
 * arguments, calls out of order and device failures all come back as codes.
 *
 * A handle is used by one thread at a time. Registered tensors must stay valid, unmoved and
 * contiguous until smartinf_close.
 */
#ifndef SMARTINF_H
#define SMARTINF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. */
#define SMARTINF_OK 0
#define SMARTINF_E_BAD_ARGUMENT 1 /* a value passed is wrong; the message names it */
#define SMARTINF_E_BAD_STATE 2    /* not possible now: before start, after close, ... */
#define SMARTINF_E_DEVICE 3       /* a device failed and was not recovered */
#define SMARTINF_E_FAILED 4       /* anything else: files, memory */

/* Tensor element types (the values of the devices' stream precisions). */
#define SMARTINF_FP32 1
#define SMARTINF_FP16 2
#define SMARTINF_BF16 3

typedef struct smartinf_optimizer smartinf_optimizer;

/* The message of this thread's last failed call (NULL if none); valid until the next failure. */
const char *smartinf_last_error(void);

/*
 * Creates an optimizer from a JSON object (docs/PYTORCH.md lists every key), e.g.
 *   {"devices": 2, "mode": "su+o", "optimizer": "adamw", "flavour": "torch", "lr": 1e-3,
 *    "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "ssd_dir": "/var/tmp/x",
 *    "dram": "64MiB", "on_device_failure": "retry", "smartssd": "/path/to/smartssd"}
 * Unknown keys and bad values are refused. Nothing starts until smartinf_start.
 */
int smartinf_create(const char *config_json, smartinf_optimizer **out);

/*
 * Appends a tensor of `count` elements of `dtype` (the optimizer's precision) to the flat
 * parameter space, in parameter group `group` (groups are registered in order: 0, 0, 1, ...).
 */
int smartinf_register(smartinf_optimizer *opt, void *data, int64_t count, int32_t dtype, int32_t group);

/* Sets a group's learning rate and weight decay for the steps that follow. */
int smartinf_set_group(smartinf_optimizer *opt, int32_t group, double lr, double weight_decay);

/*
 * Starts the devices, loading the registered tensors' current values as the parameters. With
 * "resume": true and a session journal in ssd_dir (a process that used it died or stopped), the
 * devices go on from the last step every one of them committed instead, and their fp32 masters
 * are written into the registered tensors (rounded to their dtype); every step is recorded in the
 * journal before smartinf_step returns.
 */
int smartinf_start(smartinf_optimizer *opt);

/*
 * One optimizer step. `gradients` holds one pointer per registered tensor, in registration
 * order, each to `count` elements of the tensor's dtype (NULL: no gradient, taken as zeros).
 * The gradient is checked (non-finite: the step is skipped), unscaled and clipped; the devices
 * update; the new values are written into the registered tensors. Out-parameters may be NULL.
 */
int smartinf_step(smartinf_optimizer *opt, const void *const *gradients, int64_t count, int32_t *skipped,
                  double *grad_norm, double *loss_scale);

/*
 * smartinf_step for gradients that carry the scale of a loss scaler the caller keeps (e.g.
 * torch.amp.GradScaler): they are unscaled by `loss_scale` (finite, > 0; 1 if the caller
 * unscaled them already) instead of by the optimizer's own loss scaler, which this step leaves
 * as it is. The step is skipped if `overflow_found` is nonzero (the caller's scaler found a
 * non-finite gradient, and lowers its scale) or if the check finds one. `grad_norm` is the
 * unscaled gradient's global norm. Out-parameters may be NULL.
 */
int smartinf_step_scaled(smartinf_optimizer *opt, const void *const *gradients, int64_t count, double loss_scale,
                         int32_t overflow_found, int32_t *skipped, double *grad_norm);

/*
 * The optimizer's own flat buffers (after smartinf_start, valid until smartinf_close): the
 * compute copy the devices write the new parameters into, and the gradient a step hands them,
 * both in the parameters' dtype, the registered tensors one after another in registration order
 * (tensor k at the sum of the earlier tensors' counts). A caller that moves its tensors into
 * `parameters` (smartinf_move_tensor) and keeps its gradients at their places in `gradients`
 * saves a copy of the whole model each way per step: smartinf_step copies nothing that already
 * lies at its place. Either out-parameter may be NULL.
 */
int smartinf_flat_buffers(smartinf_optimizer *opt, void **parameters, void **gradients);

/* Registered tensor `index` now lives at `data`, holding the values it held (e.g. the caller
 * moved it into smartinf_flat_buffers' parameters); the same rules as smartinf_register's. */
int smartinf_move_tensor(smartinf_optimizer *opt, int64_t index, void *data);

int smartinf_parameter_count(smartinf_optimizer *opt, int64_t *out);
/* Steps applied so far (the optimizer's t of the last applied step). */
int smartinf_applied_steps(smartinf_optimizer *opt, int64_t *out);
/* Steps taken so far, skipped ones included: after a start with "resume": true, where the
 * resumed run stands (0 when there was nothing to resume). */
int smartinf_steps_taken(smartinf_optimizer *opt, int64_t *out);
/* Device failures recovered from (on_device_failure "retry"). */
int smartinf_recoveries(smartinf_optimizer *opt, int64_t *out);

/*
 * Reads one committed fp32 vector over all parameters into `out` (`count` = the parameter
 * count): 0 the master parameters, 1 and 2 the optimizer's states (AdamW: exp_avg, exp_avg_sq;
 * SGD: momentum_buffer; Adagrad: sum).
 */
int smartinf_read_state(smartinf_optimizer *opt, int32_t vector, float *out, int64_t count);

/*
 * Replaces the optimizer's state: masters and each state vector (`state2` NULL for one-state
 * optimizers), `count` values each, `applied_steps` steps into the run. The devices restart on
 * fresh files; the compute copy is written into the registered tensors. The loss scaler and the
 * error-feedback residuals start afresh: put theirs back with smartinf_set_loss_scaler_position
 * and smartinf_load_error_feedback.
 */
int smartinf_load_state(smartinf_optimizer *opt, const float *parameters, const float *state1, const float *state2,
                        int64_t count, int64_t applied_steps);

/* The process id of device `device` (devices this optimizer started). */
int smartinf_device_pid(smartinf_optimizer *opt, int32_t device, int32_t *pid);

/* The loss scale the next step's gradients must carry (fp16: the dynamic loss scaler's; else 1). */
int smartinf_loss_scale(smartinf_optimizer *opt, double *out);

/*
 * Reads a DeepSpeed-style config (the JSON `smartinf train --config` takes; `source` names it in
 * errors) and writes it back resolved, as a NUL-terminated JSON object, into `out` if `capacity`
 * bytes hold it; `*length` gets the bytes it needs (call again with that much when it is more).
 * The object has smartinf_create's keys for what the config sets (optimizer, flavour, lr, betas,
 * eps, weight_decay, momentum, max_grad_norm, precision, loss_scaling, devices, mode, topk_ratio,
 * error_feedback, dram, ssd_dir, subgroup_elements, queue_depth, block_size), and
 * train_micro_batch_size_per_gpu, gradient_accumulation_steps, scheduler (its type name) and
 * ignored_keys (top-level keys not read). A wrong type or unknown key is refused, naming it.
 */
int smartinf_read_config(const char *config_json, const char *source, char *out, int64_t capacity, int64_t *length);

/*
 * The learning rate of the update that follows `applied_steps` applied updates under the
 * `scheduler` section of `config_json` (DeepSpeed's WarmupLR, WarmupDecayLR, WarmupCosineLR with
 * DeepSpeed's semantics); `lr` is the optimizer's, WarmupCosineLR's base.
 */
int smartinf_learning_rate(const char *config_json, double lr, int64_t applied_steps, double *out);

/*
 * Where the dynamic loss scaler stands (fp16 parameters): its scale, the overflows it still
 * absorbs before it lowers the scale, the steps it has counted (applied and skipped) and the one
 * of its last overflow (-1: none). With the masters, the states and the applied steps, this is
 * what an fp16 run needs to go on bit-identically. Out-parameters may be NULL.
 * SMARTINF_E_BAD_STATE before smartinf_start, or without a loss scaler (fp32, bf16 parameters).
 */
int smartinf_loss_scaler_position(smartinf_optimizer *opt, double *scale, int64_t *remaining_hysteresis, int64_t *iteration,
                                  int64_t *last_overflow_iteration);

/*
 * Puts the loss scaler at a position smartinf_loss_scaler_position gave; its configuration
 * (loss_scaling) stays. Call it after smartinf_load_state, which starts the scaler afresh.
 * SMARTINF_E_BAD_ARGUMENT: a scale that is not finite and positive, remaining_hysteresis outside
 * 1...the configured hysteresis, a negative iteration, or last_overflow_iteration outside
 * -1...iteration-1. SMARTINF_E_BAD_STATE as for smartinf_loss_scaler_position.
 */
int smartinf_set_loss_scaler_position(smartinf_optimizer *opt, double scale, int64_t remaining_hysteresis, int64_t iteration,
                                      int64_t last_overflow_iteration);

/*
 * Reads the error-feedback residuals ("mode": "su+o+c" with "error_feedback": true: what top-k
 * has not yet sent, kept on the host, one value per parameter) into `out` (`count` = the
 * parameter count), in parameter order, and the steps compressed with them into
 * `*completed_steps` (may be NULL). SMARTINF_E_BAD_ARGUMENT for another count;
 * SMARTINF_E_BAD_STATE before smartinf_start, or without error feedback.
 */
int smartinf_read_error_feedback(smartinf_optimizer *opt, float *out, int64_t count, int64_t *completed_steps);

/*
 * Replaces the error-feedback residuals with `count` values (the parameter count) and their
 * completed steps. Call it after smartinf_load_state, which starts them at zero.
 * SMARTINF_E_BAD_ARGUMENT: another count, a value that is not finite, negative completed_steps;
 * SMARTINF_E_BAD_STATE as for smartinf_read_error_feedback.
 */
int smartinf_load_error_feedback(smartinf_optimizer *opt, const float *residual, int64_t count, int64_t completed_steps);

/* Stops the devices and frees the handle (NULL is accepted). */
int smartinf_close(smartinf_optimizer *opt);

#ifdef __cplusplus
}
#endif

#endif
