"""Model registry: every name builds and runs a forward pass."""

import pytest
import torch

from worker.trainer.models import build_model, model_names, model_params_millions


@pytest.mark.parametrize("name", model_names())
def test_every_model_builds_and_maps_images_to_class_logits(name):
    model = build_model(name, num_classes=7, in_channels=1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)


def test_resnet_depth_and_width_are_parsed():
    assert model_params_millions("resnet20") == pytest.approx(0.27, abs=0.01)
    assert model_params_millions("resnet56") > 3 * model_params_millions("resnet20")
    assert model_params_millions("resnet20_w2") > 3.5 * model_params_millions("resnet20")
    build_model("resnet14", 10, 3)


def test_mobilenet_width_multiplier_scales_parameters():
    assert model_params_millions("mobilenet_v2_small_x0_5") < model_params_millions(
        "mobilenet_v2_small"
    )


def test_mobilenet_uses_depthwise_convolutions():
    model = build_model("mobilenet_v2_small", 10, 3)
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert depthwise and all(m.groups == m.in_channels for m in depthwise)


@pytest.mark.parametrize("name", ["resnet21", "resnet20_w0", "vgg16", "mobilenet_v3"])
def test_unknown_model_names_list_the_allowed_ones(name):
    with pytest.raises(ValueError, match="allowed: small_cnn, resnet20"):
        build_model(name, 10, 3)
