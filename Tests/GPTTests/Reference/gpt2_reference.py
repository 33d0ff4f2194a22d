#!/usr/bin/env python3
"""An independent float64 reference for the GPT-2 trainer (numpy only).

Written from the model's mathematics (GPT-2 as llm.c's train_gpt2.c defines it), not from the
Swift code it checks. It reads an llm.c checkpoint and token file, trains for N steps on
batches taken in file order, and prints one JSON object:

    {"losses": [loss at step 1, ..., loss at step N],
     "gradient_norms": {"wte": ||d wte|| at step 1, ...}}

Each loss is the mean cross-entropy of that step's batch before the step's update.
"""
import argparse
import json
import sys

import numpy as np

CHECKPOINT_MAGIC, CHECKPOINT_VERSION = 20240326, 3
TOKENS_MAGIC, TOKENS_VERSION = 20240520, 1
HEADER_BYTES = 256 * 4
LN_EPS = 1e-5
TENSORS = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
           "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"]


def read_checkpoint(path):
    with open(path, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw[:HEADER_BYTES], dtype="<i4")
    if header[0] != CHECKPOINT_MAGIC or header[1] != CHECKPOINT_VERSION:
        sys.exit(f"{path}: not an llm.c v3 checkpoint")
    max_t, vocab, layers, heads, channels, padded_vocab = (int(x) for x in header[2:8])
    c = channels
    shapes = {
        "wte": (padded_vocab, c), "wpe": (max_t, c),
        "ln1w": (layers, c), "ln1b": (layers, c),
        "qkvw": (layers, 3 * c, c), "qkvb": (layers, 3 * c),
        "attprojw": (layers, c, c), "attprojb": (layers, c),
        "ln2w": (layers, c), "ln2b": (layers, c),
        "fcw": (layers, 4 * c, c), "fcb": (layers, 4 * c),
        "fcprojw": (layers, c, 4 * c), "fcprojb": (layers, c),
        "lnfw": (c,), "lnfb": (c,),
    }
    flat = np.frombuffer(raw[HEADER_BYTES:], dtype="<f4").astype(np.float64)
    expected = sum(int(np.prod(shapes[n])) for n in TENSORS)
    if flat.size != expected:
        sys.exit(f"{path}: {flat.size} parameters, header implies {expected}")
    params, at = {}, 0
    for name in TENSORS:
        size = int(np.prod(shapes[name]))
        params[name] = flat[at:at + size].reshape(shapes[name]).copy()
        at += size
    dims = dict(max_t=max_t, vocab=vocab, layers=layers, heads=heads, channels=c, padded_vocab=padded_vocab)
    return dims, params


def read_tokens(path):
    with open(path, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw[:HEADER_BYTES], dtype="<i4")
    if header[0] != TOKENS_MAGIC or header[1] != TOKENS_VERSION:
        sys.exit(f"{path}: not an llm.c token file")
    count = int(header[2])
    return np.frombuffer(raw[HEADER_BYTES:HEADER_BYTES + 2 * count], dtype="<u2").astype(np.int64)


# --- the model, with hand-derived gradients --------------------------------------------------

def layer_norm(x, w, b):
    centred = x - x.mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + LN_EPS)
    xhat = centred * inv_std
    return xhat * w + b, (xhat, inv_std, w)


def layer_norm_grad(dy, cache):
    xhat, inv_std, w = cache
    g = dy * w                                   # d loss / d xhat
    # xhat = (x - mean) / std: the Jacobian removes the mean of g and its projection on xhat.
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    width = dy.shape[-1]
    return dx, (dy * xhat).reshape(-1, width).sum(axis=0), dy.reshape(-1, width).sum(axis=0)


GELU_K = np.sqrt(2.0 / np.pi)


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_K * (x + 0.044715 * x ** 3)))


def gelu_grad(x):
    th = np.tanh(GELU_K * (x + 0.044715 * x ** 3))
    return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th ** 2) * GELU_K * (1.0 + 3 * 0.044715 * x ** 2)


def dense(x, w, b):
    return x @ w.T + b


def dense_grad(dy, x, w):
    """Gradients of y = x Wᵀ + b for input, weight and bias."""
    rows_dy, rows_x = dy.reshape(-1, dy.shape[-1]), x.reshape(-1, x.shape[-1])
    return dy @ w, rows_dy.T @ rows_x, rows_dy.sum(axis=0)


def split_heads(x, heads):
    b, t, c = x.shape
    return x.reshape(b, t, heads, c // heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    b, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d)


def attention(qkv, heads):
    c = qkv.shape[-1] // 3
    q, k, v = (split_heads(qkv[..., i * c:(i + 1) * c], heads) for i in range(3))
    t = qkv.shape[1]
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(c // heads)
    future = np.triu(np.ones((t, t), dtype=bool), k=1)
    scores = np.where(future, -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return merge_heads(weights @ v), (q, k, v, weights)


def attention_grad(dy, cache, heads):
    q, k, v, weights = cache
    dy = split_heads(dy, heads)
    d_weights = dy @ v.transpose(0, 1, 3, 2)
    dv = weights.transpose(0, 1, 3, 2) @ dy
    # softmax: ds = w * (dw - Σ w dw); masked weights are 0, so their scores get no gradient.
    d_scores = weights * (d_weights - (weights * d_weights).sum(axis=-1, keepdims=True))
    d_scores /= np.sqrt(q.shape[-1])
    dq = d_scores @ k
    dk = d_scores.transpose(0, 1, 3, 2) @ q
    return np.concatenate([merge_heads(dq), merge_heads(dk), merge_heads(dv)], axis=-1)


def loss_and_grads(p, dims, inputs, targets):
    b, t = inputs.shape
    vocab, heads = dims["vocab"], dims["heads"]
    x = p["wte"][inputs] + p["wpe"][:t]
    caches = []
    for l in range(dims["layers"]):
        h1, ln1 = layer_norm(x, p["ln1w"][l], p["ln1b"][l])
        qkv = dense(h1, p["qkvw"][l], p["qkvb"][l])
        att, att_cache = attention(qkv, heads)
        x2 = x + dense(att, p["attprojw"][l], p["attprojb"][l])
        h2, ln2 = layer_norm(x2, p["ln2w"][l], p["ln2b"][l])
        pre = dense(h2, p["fcw"][l], p["fcb"][l])
        act = gelu(pre)
        x3 = x2 + dense(act, p["fcprojw"][l], p["fcprojb"][l])
        caches.append((x, h1, ln1, att, att_cache, h2, ln2, pre, act))
        x = x3
    hf, lnf = layer_norm(x, p["lnfw"], p["lnfb"])
    logits = (hf @ p["wte"].T)[..., :vocab]          # padded logits take no part
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    rows, cols = np.indices((b, t))
    loss = -log_probs[rows, cols, targets].mean()

    g = {name: np.zeros_like(value) for name, value in p.items()}
    d_logits = np.exp(log_probs)
    d_logits[rows, cols, targets] -= 1.0
    d_logits /= b * t
    g["wte"][:vocab] += np.einsum("btv,btc->vc", d_logits, hf)
    dx, g["lnfw"], g["lnfb"] = layer_norm_grad(d_logits @ p["wte"][:vocab], lnf)
    for l in reversed(range(dims["layers"])):
        x_in, h1, ln1, att, att_cache, h2, ln2, pre, act = caches[l]
        d_act, g["fcprojw"][l], g["fcprojb"][l] = dense_grad(dx, act, p["fcprojw"][l])
        d_h2, g["fcw"][l], g["fcb"][l] = dense_grad(d_act * gelu_grad(pre), h2, p["fcw"][l])
        d_x2, g["ln2w"][l], g["ln2b"][l] = layer_norm_grad(d_h2, ln2)
        dx = dx + d_x2
        d_att, g["attprojw"][l], g["attprojb"][l] = dense_grad(dx, att, p["attprojw"][l])
        d_qkv = attention_grad(d_att, att_cache, heads)
        d_h1, g["qkvw"][l], g["qkvb"][l] = dense_grad(d_qkv, h1, p["qkvw"][l])
        d_x, g["ln1w"][l], g["ln1b"][l] = layer_norm_grad(d_h1, ln1)
        dx = dx + d_x
    np.add.at(g["wte"], inputs, dx)
    g["wpe"][:t] += dx.sum(axis=0)
    return loss, g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--weight-decay", type=float, required=True)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    args = ap.parse_args()

    dims, params = read_checkpoint(args.checkpoint)
    tokens = read_tokens(args.tokens)
    b, t = args.batch, args.seq
    per_batch = b * t
    batches = (tokens.size - 1) // per_batch
    m = {name: np.zeros_like(value) for name, value in params.items()}
    v = {name: np.zeros_like(value) for name, value in params.items()}
    losses, norms = [], {}
    for step in range(1, args.steps + 1):
        start = ((step - 1) % batches) * per_batch
        window = tokens[start:start + per_batch + 1]
        loss, grads = loss_and_grads(params, dims, window[:-1].reshape(b, t), window[1:].reshape(b, t))
        losses.append(float(loss))
        if step == 1:
            norms = {name: float(np.sqrt((grads[name] ** 2).sum())) for name in TENSORS}
        # AdamW as llm.c writes it: bias-corrected moments, decay decoupled from the gradient.
        for name in TENSORS:
            g = grads[name]
            m[name] = args.beta1 * m[name] + (1 - args.beta1) * g
            v[name] = args.beta2 * v[name] + (1 - args.beta2) * g * g
            m_hat = m[name] / (1 - args.beta1 ** step)
            v_hat = v[name] / (1 - args.beta2 ** step)
            params[name] -= args.lr * (m_hat / (np.sqrt(v_hat) + args.eps) + args.weight_decay * params[name])
    json.dump({"losses": losses, "gradient_norms": norms}, sys.stdout)


if __name__ == "__main__":
    main()
