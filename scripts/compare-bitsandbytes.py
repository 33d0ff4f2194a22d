#!/usr/bin/env python3
"""Compares SmartInfinity's 8-bit optimizer states (docs/FORMATS.md, "8-bit optimizer states")
with bitsandbytes' own CPU blockwise quantization, on m-like (signed) and v-like (unsigned)
blocks of 2048.

Not part of `make test`: it needs bitsandbytes and torch. In a scratch venv:

    python3 -m venv --system-site-packages /tmp/bnb && /tmp/bnb/bin/pip install bitsandbytes
    /tmp/bnb/bin/python scripts/compare-bitsandbytes.py

The scheme is re-derived here in numpy from its definition (the map's formula, the block's
signed extreme, the fp32 ratio, the nearest value with ties to the lower, a positive v at least the
smallest nonzero value); the Swift kernel is
checked against the same definition by Tests/OptimTests/BlockwiseStateTests.swift.
"""
import numpy as np
import torch
import bitsandbytes
import bitsandbytes.functional as F

BLOCK = 2048


def our_map(signed):
    values = [0.0, 1.0]
    for decade in range(7):
        n = 1 << decade if signed else 1 << (decade + 1)
        for j in range(n):
            v = float(np.float32((2 * n + 18 * j + 9) / (20 * n * 10.0 ** (6 - decade))))
            values += [v, -v] if signed else [v]
    return np.array(sorted(values), dtype=np.float64)


def main():
    print(f"bitsandbytes {bitsandbytes.__version__}, blocks of {BLOCK}")
    rng = np.random.default_rng(2)
    for signed in (True, False):
        ours = our_map(signed)
        theirs = F.create_dynamic_map(signed=signed).numpy().astype(np.float64)
        differing = ours != theirs
        ulps = np.abs(ours.astype(np.float32).view(np.int32).astype(np.int64) - theirs.astype(np.float32).view(np.int32).astype(np.int64))
        name = "signed (m)" if signed else "unsigned (v)"
        print(f"{name}: map entries differing {differing.sum()} of 256, at most {ulps.max()} ulp apart")

        x = (rng.standard_normal(BLOCK * 256) * 1e-3).astype(np.float32)
        if signed:
            # Each block's extreme positive, so that both schemes take the same scale.
            for b in range(0, len(x), BLOCK):
                block = x[b:b + BLOCK]
                i = np.abs(block).argmax()
                block[i] = abs(block[i])
        else:
            x = (x * x).astype(np.float32)
        q, state = F.quantize_blockwise(torch.from_numpy(x), code=F.create_dynamic_map(signed=signed), blocksize=BLOCK)
        their_codes = q.numpy().astype(np.int64)
        scale = np.repeat(state.absmax.numpy(), BLOCK)[:len(x)]
        ratio = (x / scale).astype(np.float32).astype(np.float64)
        our_codes = np.searchsorted((ours[:-1] + ours[1:]) / 2, ratio, side="left")
        if not signed:
            our_codes = np.where(ratio > 0, np.maximum(our_codes, 1), our_codes)  # a positive v stays positive
        d = their_codes != our_codes
        ours_off, theirs_off = np.abs(ours[our_codes] - ratio), np.abs(theirs[their_codes] - ratio)
        print(f"  {len(x)} elements: codes differ for {d.sum()} ({100 * d.mean():.2f}%), by at most "
              f"{np.abs(their_codes - our_codes).max()}; ours nearer the ratio for {(ours_off[d] < theirs_off[d]).sum()}, "
              f"bitsandbytes' for {(theirs_off[d] < ours_off[d]).sum()}")
        print(f"  mean |decoded - x|: ours {np.mean(np.abs(ours[our_codes] * scale - x)):.4e}, "
              f"bitsandbytes {np.mean(np.abs(F.dequantize_blockwise(q, state).numpy() - x)):.4e}")

    x = np.zeros(BLOCK, dtype=np.float32)
    x[5], x[6] = -1.5, 0.75
    q, state = F.quantize_blockwise(torch.from_numpy(x), code=F.create_dynamic_map(signed=True), blocksize=BLOCK)
    back = F.dequantize_blockwise(q, state).numpy()
    print(f"a block [0, …, -1.5, 0.75, …]: bitsandbytes decodes -1.5 to {back[5]:.7g}, 0 to {back[0]:.7g}; "
          f"ours to -1.5 (its scale is -1.5) and 0")


if __name__ == "__main__":
    main()
