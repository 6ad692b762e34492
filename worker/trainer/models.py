"""The models a trial trains, built by name: torchvision's and timm's classifiers, and the small
built-in nets for quick CPU runs.

Names are resolved in `worker.trainer.model_names` (`resolve_model`, `ModelRef`,
`UnknownModel`, re-exported here).

`build` makes the network for a data set: ``num_classes`` outputs, the data's channels (timm's
``in_chans``; torchvision models take 3, and one-channel images are repeated), and the data's
resolution where the model allows it (timm's ``img_size``, torchvision's ViT ``image_size``);
a model that cannot take that resolution gets its images resized to its own input size, and
`BuiltModel.input_note` says which. With pretrained weights (`worker.trainer.weights`, local
files only) the backbone is loaded and the classifier head replaced for the data's classes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worker.trainer.model_names import (
    MOBILENET_PATTERN,
    RESNET_PATTERN,
    ModelRef,
    UnknownModel,
    model_names,
    resolve_model,
    suggest_models,
)
from worker.trainer.small_nets import CifarResNet, MobileNetV2Small, SmallCNN
from worker.trainer.weights import (
    WeightsFile,
    find_weights,
    read_state_dict,
    where_weights_are_looked_for,
)

__all__ = [  # the names' half lives in worker.trainer.model_names, re-exported for callers
    "BuiltModel",
    "ModelRef",
    "PretrainedInfo",
    "UnknownModel",
    "build",
    "build_model",
    "describe_model",
    "model_names",
    "model_params_millions",
    "resolve_model",
]

#: ImageNet normalisation, which torchvision's pretrained weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 224


@dataclass
class PretrainedInfo:
    """What loading the weights did: the file, the tensors loaded, the head tensors replaced."""

    path: str
    source: str
    loaded: int
    replaced: list[str] = field(default_factory=list)


@dataclass
class BuiltModel:
    """A network ready for a data set, with what the trial needs to feed it."""

    module: nn.Module
    ref: ModelRef
    family: str | None
    in_channels: int
    input_size: int | None
    input_note: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pretrained: PretrainedInfo | None = None

    @property
    def params_millions(self) -> float:
        return sum(p.numel() for p in self.module.parameters() if p.requires_grad) / 1e6


# --- building ------------------------------------------------------------------------------------

def build_model(name: str, num_classes: int, in_channels: int) -> nn.Module:
    """A freshly initialised classifier (the module only; see `build` for the rest)."""
    return build(name, num_classes, in_channels).module


def build(
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int | None = None,
    *,
    pretrained: bool = False,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> BuiltModel:
    """The model `name` for a data set of `num_classes` classes, `in_channels` channels and
    `image_size` pixels (None: any size). With `pretrained`, weights come from `weights` or,
    when None, from `worker.trainer.weights.find_weights`; none found is a ValueError."""
    if num_classes < 2 or in_channels < 1:
        raise ValueError(f"model: need num_classes >= 2 and in_channels >= 1 for {name!r}")
    ref = resolve_model(name)
    if ref.source == "builtin":
        if pretrained:
            raise ValueError(f"training.pretrained: {name!r} is a built-in network without "
                             "pretrained weights; name a torchvision or timm model")
        with torch.device(device):
            module = _builtin_builder(ref.name)(num_classes, in_channels)
        return BuiltModel(module, ref, _builtin_family(ref.name), in_channels, image_size)
    file = None
    if pretrained:
        file = (WeightsFile(Path(weights), "given") if weights
                else find_weights(ref.source, ref.name))
        if file is None:
            raise ValueError(f"training.pretrained: no local weights for {ref.key}; looked in "
                             f"{where_weights_are_looked_for()}")
    if ref.source == "torchvision":
        built = _torchvision(ref, num_classes, in_channels, image_size, device)
    else:
        built = _timm(ref, num_classes, in_channels, image_size, device, file)
    if ref.source == "timm" and built.input_size is not None and not _fits(built, device) and (
            "img_size" in (built.input_note or "")):  # built for a size it cannot take after all
        built = _timm(ref, num_classes, in_channels, None, device, file)
        built.input_size = _default_size(ref)
        built.input_note = (f"images resized from {image_size} px to {built.input_size} px: "
                            f"the model does not take {image_size} px inputs")
    if built.input_size is not None and not _fits(built, device):
        wanted = built.input_size
        built.input_size = _default_size(ref)
        built.input_note = (f"images resized from {wanted} px to {built.input_size} px: the "
                            f"model does not take {wanted} px inputs")
    if file is not None and ref.source == "torchvision":
        built.pretrained = _load_torchvision_weights(built, file.path, file.source)
        built.mean, built.std = IMAGENET_MEAN, IMAGENET_STD
    return built


@functools.lru_cache(maxsize=256)
def describe_model(name: str, num_classes: int = 10, in_channels: int = 3,
                   image_size: int | None = None) -> tuple[float, str | None, str | None]:
    """(millions of parameters, family, input note) of the model as built for such data, built
    on the meta device where the library allows (no memory, no initialisation)."""
    try:
        built = build(name, num_classes, in_channels, image_size, device="meta")
    except (NotImplementedError, RuntimeError):  # an op the meta device lacks: build for real
        built = build(name, num_classes, in_channels, image_size)
    return built.params_millions, built.family, built.input_note


def model_params_millions(name: str, num_classes: int = 10, in_channels: int = 3) -> float:
    """Number of trainable parameters of the built model, in millions."""
    return describe_model(name, num_classes, in_channels)[0]


def _builtin_builder(name: str) -> Callable[[int, int], nn.Module]:
    if name == "small_cnn":
        return SmallCNN
    if match := RESNET_PATTERN.match(name):
        depth, width = int(match[1]), int(match[2] or 1)
        if (depth - 2) % 6 == 0 and depth >= 8 and 1 <= width <= 16:
            return functools.partial(CifarResNet, (depth - 2) // 6, width)
    if match := MOBILENET_PATTERN.match(name):
        multiplier = float(f"{match[1]}.{match[2]}") if match[1] else 1.0
        if 0.1 <= multiplier <= 4.0:
            return functools.partial(MobileNetV2Small, multiplier)
    raise UnknownModel(name, suggest_models(name))


def _builtin_family(name: str) -> str | None:
    if name.startswith("resnet"):
        return "resnet"
    if name.startswith("mobilenet_v2"):
        return "mobilenet_v2"
    return None


def _family(ref: ModelRef, module: nn.Module) -> str | None:
    """The catalog's family when it knows the model, else the library's module name."""
    from advisor import catalog

    info = catalog.find_model(ref.name)
    if info is not None:
        return info.family
    return type(module).__module__.rsplit(".", 1)[-1] or None


def _torchvision(ref: ModelRef, num_classes: int, in_channels: int, image_size: int | None,
                 device: str | torch.device) -> BuiltModel:
    import torchvision

    if in_channels not in (1, 3):
        raise ValueError(f"model: torchvision's {ref.name} takes RGB images; this data set has "
                         f"{in_channels} channels")
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if ref.name in ("inception_v3", "googlenet"):
        kwargs["aux_logits"] = False  # one output; the auxiliary heads are for ImageNet recipes
        kwargs["init_weights"] = True
    size, note = image_size, None
    if ref.name.startswith("vit_") and image_size is not None:
        patch = int(re.findall(r"\d+", ref.name)[-1])
        size = max(patch, round(image_size / patch) * patch)
        kwargs["image_size"] = size
        note = f"built for {size} px images (torchvision's image_size)"
        if size != image_size:
            note += f"; images resized from {image_size} px to a multiple of the {patch} px patch"
    elif ref.name.startswith("maxvit") and image_size is not None:
        size, note = DEFAULT_INPUT_SIZE, (f"images resized from {image_size} px to "
                                          f"{DEFAULT_INPUT_SIZE} px, the model's fixed input")
    with torch.device(device):
        module = torchvision.models.get_model(ref.name, **kwargs)
    return BuiltModel(module, ref, _family(ref, module), 3, size, note, None, None)


def _timm(ref: ModelRef, num_classes: int, in_channels: int, image_size: int | None,
          device: str | torch.device, file: Any) -> BuiltModel:
    import timm

    config = timm.models.get_pretrained_cfg(ref.name)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "in_chans": in_channels}
    size, note = image_size, None
    fixed = bool(config and config.fixed_input_size)
    if fixed and image_size is not None:
        kwargs["img_size"] = image_size
        note = f"built for {image_size} px images (timm's img_size)"
    if file is not None:
        kwargs["pretrained"] = True
        kwargs["pretrained_cfg_overlay"] = {"file": str(file.path)}
    try:
        with torch.device(device):
            module = timm.create_model(ref.name, **kwargs)
    except TypeError:
        if "img_size" not in kwargs:
            raise
        del kwargs["img_size"]
        size = int(config.input_size[-1]) if config else DEFAULT_INPUT_SIZE
        note = f"images resized from {image_size} px to {size} px, the model's fixed input"
        with torch.device(device):
            module = timm.create_model(ref.name, **kwargs)
    built = BuiltModel(module, ref, _family(ref, module), in_channels, size, note)
    if file is not None:
        classifier = (config.classifier if config else None) or "head"
        classifiers = classifier if isinstance(classifier, list | tuple) else [classifier]
        replaced = [key for key in module.state_dict()
                    if any(key.startswith(f"{c}.") for c in classifiers)]
        built.pretrained = PretrainedInfo(str(file.path), file.source,
                                          len(module.state_dict()) - len(replaced), replaced)
        if config is not None:
            built.mean, built.std = tuple(config.mean), tuple(config.std)
    return built


def _fits(built: BuiltModel, device: str | torch.device) -> bool:
    """Whether one image at the model's input size goes through it (on the meta device when the
    model is there: no computation)."""
    size = built.input_size or DEFAULT_INPUT_SIZE
    module = built.module
    probe = torch.zeros(1, built.in_channels, size, size, device=device)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(probe)
    except NotImplementedError:
        return True  # the meta device lacks an op: the real build will tell
    except (RuntimeError, ValueError, AssertionError):
        return False
    finally:
        module.train(was_training)
    return True


def _default_size(ref: ModelRef) -> int:
    if ref.source == "timm":
        import timm

        config = timm.models.get_pretrained_cfg(ref.name)
        if config is not None:
            return int(config.input_size[-1])
    return DEFAULT_INPUT_SIZE


def _load_torchvision_weights(built: BuiltModel, path: Path, source: str) -> PretrainedInfo:
    """Load a state_dict into the model, all but the classifier head (the tensors whose shape
    differs: they were trained for other classes); a ViT's position embeddings are interpolated
    to its resolution (torchvision's `interpolate_embeddings`). Anything else missing is a
    ValueError."""
    module = built.module
    state = read_state_dict(path)
    own = module.state_dict()
    key = "encoder.pos_embedding"
    if key in state and key in own and state[key].shape != own[key].shape and built.input_size:
        from torchvision.models.vision_transformer import interpolate_embeddings

        patch = int(re.findall(r"\d+", built.ref.name)[-1])
        state = dict(interpolate_embeddings(built.input_size, patch, state))
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    replaced = [k for k in own if k not in usable]
    # The auxiliary ImageNet heads of inception_v3 and googlenet are not built (aux_logits off).
    unexpected = [k for k in state if k not in own
                  and k.split(".")[0] not in {"AuxLogits", "aux1", "aux2"}]
    heads = [k for k in replaced if k.split(".")[0] in {"fc", "classifier", "heads", "head"}]
    if unexpected or len(heads) != len(replaced) or not usable:
        outside = ", ".join(k for k in replaced if k not in heads)[:200]
        raise ValueError(f"training.pretrained: {path} does not fit this model: "
                         f"{len(replaced) - len(heads)} tensors missing or of another shape "
                         f"outside the head ({outside}), {len(unexpected)} unexpected")
    module.load_state_dict(usable, strict=False)
    return PretrainedInfo(str(path), source, len(usable), replaced)
