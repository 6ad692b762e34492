"""Parameter groups and optimizers for the project's optimizer names.

``sgd``, ``adamw`` and ``rmsprop`` are torch's own. torch has no LARS or LAMB, so this module
implements both, small and close to the papers (and to timm's versions):

* `Lars` (You et al., 2017): SGD with momentum whose step for each parameter tensor is scaled by
  the trust ratio ``trust_coefficient * ||w|| / (||g|| + weight_decay * ||w||)``.
* `Lamb` (You et al., 2020): AdamW's update (with decoupled weight decay folded into the update)
  scaled per tensor by ``||w|| / ||update||``.

As in the papers' reference setups, the trust ratio applies only to groups with weight decay,
so with ``no_bias_decay`` biases and norm weights take plain SGD-momentum / Adam steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

OPTIMIZERS = ("sgd", "adamw", "rmsprop", "lamb", "lars")
#: LARS's eta: the scale of the layer-wise rate relative to the global rate (paper: 0.001).
LARS_TRUST_COEFFICIENT = 0.001
#: RMSprop as used for EfficientNet/MobileNet (TF's decay 0.9, a large epsilon).
RMSPROP_ALPHA = 0.9
RMSPROP_EPS = 1e-3
ADAM_BETA2 = 0.999


def parameter_groups(
    model: nn.Module, weight_decay: float, no_bias_decay: bool
) -> list[dict[str, Any]]:
    """One group with `weight_decay`, plus, if `no_bias_decay`, one without for 1-D params.

    1-D parameters are the biases and the normalisation layers' weights.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not no_bias_decay:
        return [{"params": params, "weight_decay": weight_decay}]
    decayed = [p for p in params if p.ndim > 1]
    not_decayed = [p for p in params if p.ndim <= 1]
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": not_decayed, "weight_decay": 0.0},
    ]


def build_optimizer(
    name: str, groups: list[dict[str, Any]], learning_rate: float, momentum: float
) -> torch.optim.Optimizer:
    """The optimizer `name` over `groups` (weight decay is set per group)."""
    if name == "sgd":
        return torch.optim.SGD(groups, lr=learning_rate, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=learning_rate, betas=(momentum, ADAM_BETA2))
    if name == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=learning_rate, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS, momentum=momentum
        )
    if name == "lars":
        return Lars(groups, lr=learning_rate, momentum=momentum)
    if name == "lamb":
        return Lamb(groups, lr=learning_rate, betas=(momentum, ADAM_BETA2))
    raise ValueError(f"optimizer: unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def _trust_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator / denominator where both are positive, else 1 (as in the papers)."""
    usable = (numerator > 0) & (denominator > 0)
    return torch.where(usable, numerator / denominator.clamp_min(1e-12), torch.ones_like(numerator))


class Lars(torch.optim.Optimizer):
    """SGD with momentum and a layer-wise trust ratio (LARS)."""

    def __init__(
        self, params: Iterable[Any], lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
        trust_coefficient: float = LARS_TRUST_COEFFICIENT,
    ) -> None:
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                    "trust_coefficient": trust_coefficient}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            decay = group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                update = param.grad
                if decay != 0:
                    w_norm = param.norm()
                    trust = _trust_ratio(w_norm, update.norm() + decay * w_norm)
                    trust = trust * group["trust_coefficient"]
                    update = update.add(param, alpha=decay).mul_(trust)
                buffer = self.state[param].get("momentum_buffer")
                if buffer is None:
                    buffer = self.state[param]["momentum_buffer"] = update.clone()
                else:
                    buffer.mul_(group["momentum"]).add_(update)
                param.add_(buffer, alpha=-group["lr"])
        return loss


class Lamb(torch.optim.Optimizer):
    """Adam moments with decoupled weight decay and a layer-wise trust ratio (LAMB)."""

    def __init__(
        self, params: Iterable[Any], lr: float, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6, weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            decay = group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(param.grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(param.grad, param.grad, value=1 - beta2)
                m_hat = exp_avg / (1 - beta1 ** state["step"])
                v_hat = exp_avg_sq / (1 - beta2 ** state["step"])
                update = m_hat / (v_hat.sqrt() + group["eps"])
                if decay != 0:
                    update.add_(param, alpha=decay)
                    update.mul_(_trust_ratio(param.norm(), update.norm()))
                param.add_(update, alpha=-group["lr"])
        return loss
