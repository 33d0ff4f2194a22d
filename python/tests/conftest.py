"""A small transformer written here (not the project's GPT), a fixed batch, and a loop that trains
it with any optimizer, so every test compares optimizers on the same run."""

import os
import signal

import pytest
import torch
from torch import nn

STEPS = 20

# One thread: torch's reductions then add in one order, so the reference runs are reproducible.
torch.set_num_threads(1)


class TinyTransformer(nn.Module):
    """Token embedding, one pre-norm self-attention block with an MLP, and a tied-free head."""

    def __init__(self, vocab=32, width=32, heads=4, context=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(context, width) * 0.02)
        self.norm1 = nn.LayerNorm(width)
        # The key projection has no bias: softmax ignores it, so its exact gradient is zero and
        # torch's is rounding noise, which Adam's normalisation would turn into ±lr steps.
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.embed(tokens) + self.position[:t]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        x = x + self.attend(self.norm1(x), mask)
        x = x + self.mlp(self.norm2(x))
        return self.head(x)


    def attend(self, h, mask):
        b, t, c = h.shape
        split = lambda y: y.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        scores = (q @ k.transpose(-1, -2)) / (c // self.heads) ** 0.5
        weights = scores.masked_fill(mask, float("-inf")).softmax(dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, c))


def make_model(seed=0):
    torch.manual_seed(seed)
    return TinyTransformer()


def batches(steps, seed=1):
    """`steps` batches cycling over four fixed ones, so that the loss can go down."""
    g = torch.Generator().manual_seed(seed)
    fixed = [torch.randint(0, 32, (4, 17), generator=g) for _ in range(4)]
    return [fixed[i % 4] for i in range(steps)]


def train(model, optimizer, steps=STEPS, scheduler=None, after_step=None, data=None):
    """Trains `steps` steps; returns the losses."""
    losses = []
    for i, batch in enumerate(data or batches(steps)):
        optimizer.zero_grad()
        logits = model(batch[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
        if after_step is not None:
            after_step(i + 1)
    return losses


def parameters_of(model):
    return [p.detach().clone() for p in model.parameters()]


def max_relative_difference(a, b):
    """The largest |a − b| over the tensor's largest |b|, over every tensor."""
    return max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b))


@pytest.fixture
def ssd_dir(tmp_path):
    return str(tmp_path / "ssd")


def kill(pid):
    os.kill(pid, signal.SIGKILL)
