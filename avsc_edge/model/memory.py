"""Training memory: activations recomputed in the backward pass instead of kept.

A batch of 32 ten-second log-mels through the ``edge`` preset's mn04 kept 2.8 GB of activations
for the backward pass; kept only at block boundaries, the blocks' insides are recomputed when the
gradient reaches them. Gradients are unchanged; batch norms see the same batch twice, so their
running statistics are left alone in the recomputation (momentum 0 there), as if it never ran."""
from __future__ import annotations

import contextlib
from contextvars import ContextVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


_RECOMPUTE: ContextVar[bool] = ContextVar("avsc_edge_recompute_activations", default=False)


@contextlib.contextmanager
def recompute_activations(enabled: bool = True):
    """Within this block, :func:`run_blocks` recomputes activations in the backward pass (training
    turns it on unless ``TrainConfig.recompute_activations`` is off)."""
    token = _RECOMPUTE.set(enabled)
    try:
        yield
    finally:
        _RECOMPUTE.reset(token)


@contextlib.contextmanager
def _frozen_running_stats(module: nn.Module):
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def run_blocks(blocks: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``blocks(x)``; inside :func:`recompute_activations`, while training with gradients, each
    block's activations are recomputed in the backward pass rather than stored."""
    needs_grad = x.requires_grad or any(p.requires_grad for p in blocks.parameters())
    if not (_RECOMPUTE.get() and blocks.training and torch.is_grad_enabled() and needs_grad):
        return blocks(x)
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False,
                       context_fn=lambda b=block: (contextlib.nullcontext(), _frozen_running_stats(b)))
    return x
