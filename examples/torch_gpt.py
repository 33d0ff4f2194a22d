"""A small GPT in plain PyTorch whose AdamW lives on four emulated SmartSSDs.

Trains a byte-level GPT on the shipped corpus (`smartinf corpus --out out/corpus`) with
`smartinfinity.AdamW` in su+o+c (top-k compressed gradients with error feedback) and prints the
loss. The model is ordinary PyTorch: only the optimizer line differs from a `torch.optim` run.

    python3 examples/torch_gpt.py --data out/corpus --steps 60
"""
import argparse
import math
import os

import numpy as np
import torch
import torch.nn as nn

import smartinfinity


def read_tokens(path):
    """llm.c's token file: a header of 256 int32 (magic 20240520, version 1, count), then u16 tokens."""
    header = np.fromfile(path, dtype=np.int32, count=256)
    if header[0] != 20240520 or header[1] != 1:
        raise SystemExit(f"{path}: not an llm.c token file (magic {header[0]}, version {header[1]})")
    return torch.from_numpy(np.fromfile(path, dtype=np.uint16, offset=1024, count=int(header[2])).astype(np.int64))


class Block(nn.Module):
    def __init__(self, channels, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attention(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocabulary=256, channels=128, heads=4, layers=2, context=64):
        super().__init__()
        self.tokens = nn.Embedding(vocabulary, channels)
        self.positions = nn.Embedding(context, channels)
        self.blocks = nn.ModuleList(Block(channels, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, vocabulary, bias=False)
        self.register_buffer("mask", torch.triu(torch.full((context, context), float("-inf")), diagonal=1))

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tokens(idx) + self.positions(torch.arange(t))
        for block in self.blocks:
            x = block(x, self.mask[:t, :t])
        return self.head(self.ln(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="out/corpus", help="directory with train.bin and val.bin")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--mode", default="su+o+c")
    parser.add_argument("--ssd-dir", default="/var/tmp/smartinf-torch-demo")
    args = parser.parse_args()

    torch.manual_seed(1)
    tokens = read_tokens(os.path.join(args.data, "train.bin"))
    model = GPT(context=args.seq)
    count = sum(p.numel() for p in model.parameters())
    optimizer = smartinfinity.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, devices=args.devices,
                                    mode=args.mode, topk_ratio=0.1, error_feedback=True, ssd_dir=args.ssd_dir,
                                    dram="64MiB", max_grad_norm=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10))
    print(f"torch GPT, {count} parameters; AdamW on {args.devices} emulated SmartSSD(s) in {args.mode}")
    generator = torch.Generator().manual_seed(2)
    with optimizer:
        for step in range(1, args.steps + 1):
            starts = torch.randint(0, len(tokens) - args.seq - 1, (args.batch,), generator=generator)
            batch = torch.stack([tokens[s:s + args.seq + 1] for s in starts.tolist()])
            logits = model(batch[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            if step == 1 or step % 10 == 0 or step == args.steps:
                print(f"step {step:4d}/{args.steps}  loss {loss.item():.4f}  (uniform would be {math.log(256):.4f})")


if __name__ == "__main__":
    main()
