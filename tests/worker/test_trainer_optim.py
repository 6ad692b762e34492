"""Parameter groups (timm's helper) and the optimizers (torch's, and timm's LARS and LAMB)."""

import pytest
import torch
from timm.optim import Lamb, Lars
from torch import nn

from worker.trainer.models import build, build_model
from worker.trainer.optim import OPTIMIZERS, build_optimizer, parameter_groups


def _ids(params):
    return {id(p) for p in params}


def test_no_bias_decay_puts_biases_and_norm_weights_in_a_group_without_decay():
    model = build_model("resnet20", 10, 3)
    decayed, free = parameter_groups(model, 5e-4, no_bias_decay=True)
    assert decayed["weight_decay"] == 5e-4 and free["weight_decay"] == 0.0
    norm_and_bias = [m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    norm_and_bias += [model.head.bias]
    assert _ids(norm_and_bias) <= _ids(free["params"])
    assert all(p.ndim > 1 for p in decayed["params"])
    assert id(model.head.weight) in _ids(decayed["params"])


def test_without_no_bias_decay_every_parameter_decays():
    model = build_model("small_cnn", 10, 1)
    (group,) = parameter_groups(model, 1e-4, no_bias_decay=False)
    assert group["weight_decay"] == 1e-4
    assert _ids(group["params"]) == _ids(model.parameters())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_reduces_a_simple_loss(name):
    torch.manual_seed(0)
    model = nn.Linear(8, 1)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    lr = {"sgd": 0.05, "adamw": 0.01, "rmsprop": 0.01, "lamb": 0.01, "lars": 0.5}[name]
    optimizer = build_optimizer(name, parameter_groups(model, 1e-4, True), lr, 0.9)
    first = nn.functional.mse_loss(model(x), y).item()
    for _ in range(50):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first


def test_lars_and_lamb_are_timms():
    groups = parameter_groups(nn.Linear(4, 2), 1e-4, True)
    assert isinstance(build_optimizer("lars", groups, 0.1, 0.9), Lars)
    assert isinstance(build_optimizer("lamb", groups, 0.1, 0.9), Lamb)


def test_lars_scales_each_step_by_the_trust_ratio():
    weight = nn.Parameter(torch.full((2, 2), 3.0))
    weight.grad = torch.full((2, 2), 0.5)
    Lars([{"params": [weight], "weight_decay": 0.1}], lr=1.0, momentum=0.0,
         trust_coeff=0.01).step()
    w_norm, g_norm = 6.0, 1.0
    trust = 0.01 * w_norm / (g_norm + 0.1 * w_norm)
    assert torch.allclose(weight, torch.full((2, 2), 3.0 - trust * (0.5 + 0.1 * 3.0)))


def test_a_vits_position_embedding_and_class_token_take_no_decay():
    model = build("vit_tiny_patch16_224", 4, 3, 32).module
    decayed, free = parameter_groups(model, 0.05, no_bias_decay=True)
    assert {id(model.pos_embed), id(model.cls_token)} <= _ids(free["params"])
    assert id(model.patch_embed.proj.weight) in _ids(decayed["params"])


def test_unknown_optimizer_is_a_value_error_naming_the_key():
    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer("adagrad", [{"params": [nn.Parameter(torch.ones(1))]}], 0.1, 0.9)
