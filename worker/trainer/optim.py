"""Parameter groups and optimizers for the project's optimizer names: the libraries' own.

* ``sgd``, ``adamw``, ``rmsprop`` - torch's (RMSprop as used for EfficientNet/MobileNet: TF's
  decay 0.9 and a large epsilon).
* ``lars`` - timm's `Lars` (You et al., 2017): SGD with momentum, each tensor's step scaled by
  the trust ratio ``trust_coeff * ||w|| / (||g|| + weight_decay * ||w||)``.
* ``lamb`` - timm's `Lamb` (You et al., 2020): Adam moments, decay in the update, the update
  scaled per tensor by ``||w|| / ||update||``, with timm's global gradient clipping at 1.0.

With ``no_bias_decay`` the groups come from timm's `param_groups_weight_decay`: 1-D parameters
(biases, normalisation weights) and the model's own ``no_weight_decay()`` names (position
embeddings, class tokens) take no decay; as in the papers' set-ups LARS and LAMB adapt only the
groups with decay.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from advisor.schemas import OptimizerName
from worker.trainer.config import OPTIMIZERS

RMSPROP_ALPHA = 0.9
RMSPROP_EPS = 1e-3
ADAM_BETA2 = 0.999

__all__ = ["OPTIMIZERS", "build_optimizer", "parameter_groups"]


def parameter_groups(
    model: nn.Module, weight_decay: float, no_bias_decay: bool
) -> list[dict[str, Any]]:
    """One group with `weight_decay`, plus, with `no_bias_decay`, one without (timm's split)."""
    if not no_bias_decay:
        params = [p for p in model.parameters() if p.requires_grad]
        return [{"params": params, "weight_decay": weight_decay}]
    from timm.optim import param_groups_weight_decay

    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else ()
    groups = param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip)
    return sorted(groups, key=lambda group: -group["weight_decay"])


def build_optimizer(
    name: OptimizerName, groups: list[dict[str, Any]], learning_rate: float, momentum: float
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
        from timm.optim import Lars

        return Lars(groups, lr=learning_rate, momentum=momentum)
    if name == "lamb":
        from timm.optim import Lamb

        return Lamb(groups, lr=learning_rate, betas=(momentum, ADAM_BETA2))
    raise ValueError(f"optimizer: unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
