"""The small built-in nets: every name builds and runs a forward pass (the libraries' models:
test_trainer_library_models.py)."""

import pytest
import torch

from worker.trainer.models import UnknownModel, build_model, model_names, model_params_millions


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


@pytest.mark.parametrize(("name", "close"), [("resnet21", "resnet26"), ("resnt18", "resnet18"),
                                             ("convnext_tinyy", "convnext_tiny")])
def test_unknown_model_names_get_close_suggestions(name, close):
    with pytest.raises(UnknownModel, match="unknown model") as raised:
        build_model(name, 10, 3)
    assert close in raised.value.suggestions and close in str(raised.value)


def test_a_cifar_resnet_width_out_of_range_is_refused():
    with pytest.raises(ValueError, match="resnet20_w0"):
        build_model("resnet20_w0", 10, 3)
