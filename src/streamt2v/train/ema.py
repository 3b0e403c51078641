"""Exponential moving average of trainable weights (used for the exported models, paper appendix)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    """EMA of the parameters of ``module`` that require grad, kept in float32.

    ``decay`` warms up as ``min(decay, (1 + n) / (10 + n))`` over the first updates (n = updates so
    far), so early weights are not averaged with the random initialization for long.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.num_updates = 0
        self.names = [n for n, p in module.named_parameters() if p.requires_grad]
        params = dict(module.named_parameters())
        self.shadow: dict[str, torch.Tensor] = {n: params[n].detach().float().clone() for n in self.names}

    def current_decay(self) -> float:
        n = self.num_updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        d = self.current_decay()
        params = dict(module.named_parameters())
        for n in self.names:
            self.shadow[n].lerp_(params[n].detach().float(), 1.0 - d)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        params = dict(module.named_parameters())
        for n in self.names:
            params[n].copy_(self.shadow[n].to(params[n].dtype))

    @contextmanager
    def applied(self, module: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the EMA weights into ``module`` (restored on exit)."""
        params = dict(module.named_parameters())
        backup = {n: params[n].detach().clone() for n in self.names}
        self.copy_to(module)
        try:
            yield module
        finally:
            with torch.no_grad():
                for n in self.names:
                    params[n].copy_(backup[n])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor], num_updates: int) -> None:
        missing = sorted(set(self.names) - set(state))
        if missing:
            raise ValueError(f"EMA state lacks {len(missing)} parameters, e.g. {', '.join(missing[:3])}")
        for n in self.names:
            self.shadow[n] = state[n].to(self.shadow[n].device, torch.float32).clone()
        self.num_updates = int(num_updates)
