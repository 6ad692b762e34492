"""The training-profile flags shared by `recommend` and `submit`, and the request they make."""

from __future__ import annotations

import argparse
from typing import Any


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """The training-profile flags shared by `recommend` and `submit`."""
    parser.add_argument("--model", help="model name, e.g. resnet50, MobileNetV2_x0_25, vit_b_16")
    parser.add_argument("--params-m", type=float, help="model size in millions of parameters")
    parser.add_argument("--family", help="model family, when the name is not in the catalog")
    parser.add_argument("--batch-size", type=int, default=256, help="total batch size")
    parser.add_argument("--num-gpus", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="training budget (default: the advisor's)")
    parser.add_argument("--num-images", type=int, help="training images (default: ImageNet)")
    parser.add_argument("--num-classes", type=int, help="classes (default: 1000)")
    parser.add_argument("--image-size", type=int, help="input resolution (default: 224)")
    parser.add_argument("--no-flip", action="store_true",
                        help="mirroring an image changes its label")
    parser.add_argument("--pretrained", action="store_true", help="fine-tune from weights")
    parser.add_argument("--pretraining", help="what the weights learnt from: supervised-1k, "
                        "supervised-21k or self-supervised (implies --pretrained)")
    parser.add_argument("--goal", default="accuracy", help="accuracy or fast_convergence")
    parser.add_argument("--optimizer", help="impose sgd, adamw, rmsprop, lamb or lars")
    parser.add_argument("--augmentation", help="none, standard or strong")


def model_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The request's model, from the flags given."""
    model = {"name": args.model, "params_millions": args.params_m, "family": args.family}
    return {key: value for key, value in model.items() if value is not None}


def training_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The request's training set-up, from the flags given."""
    training = {"batch_size": args.batch_size, "num_gpus": args.num_gpus, "epochs": args.epochs,
                "pretrained": args.pretrained, "pretraining": args.pretraining,
                "goal": args.goal, "optimizer": args.optimizer,
                "augmentation": args.augmentation}
    return {key: value for key, value in training.items() if value is not None}


def profile_from_args(args: argparse.Namespace) -> dict[str, Any]:
    dataset = {key: value for key, value in (
        ("num_train_images", args.num_images), ("num_classes", args.num_classes),
        ("image_size", args.image_size)) if value is not None}
    if args.no_flip:
        dataset["horizontal_flip_ok"] = False
    return {"model": model_from_args(args), "dataset": dataset,
            "training": training_from_args(args)}
