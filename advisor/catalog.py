"""The model catalog: the image classifiers the advisor knows by name.

Each entry records a network's family, its ImageNet-1k parameter count in millions and its
training ``kind`` (the lineage whose published recipe the advisor starts from), together with the
other spellings torchvision, timm and PaddleClas use for the same network. Lookups forgive case,
dashes, underscores, spaces and dots; unknown names get close suggestions.

Parameter counts are the published ones: torchvision's weight metadata, timm's model cards and
PaddleClas's model-zoo tables. Where two sources disagree by more than a few percent about what
is really a different network (a wider head, another block layout), the catalog keeps two entries
rather than averaging them.
"""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal[
    "convnet",
    "convnet_no_bn",
    "mobile_convnet",
    "nas_convnet",
    "modern_convnet",
    "transformer",
    "hybrid",
]

__all__ = [
    "Kind",
    "ModelInfo",
    "families",
    "find_model",
    "list_models",
    "normalize",
    "suggest_models",
]


class ModelInfo(BaseModel):
    """One known classifier: its canonical name, family, size, training kind and other spellings."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: str
    params_millions: float
    kind: Kind
    aliases: tuple[str, ...] = ()


# Rows are (canonical name, params in millions, other spellings separated by spaces), grouped by
# (family, kind). A family may appear in more than one group when its members train differently.
_Row = tuple[str, float, str]
_Group = tuple[str, Kind, tuple[_Row, ...]]

# fmt: off
_DATA: tuple[_Group, ...] = (
    # --- Residual networks and their descendants (batch norm, SGD with momentum). ---
    ("resnet", "convnet", (
        ("resnet18", 11.69, "ResNet18 ResNet-18"),
        ("resnet34", 21.80, "ResNet34"),
        ("resnet50", 25.56, "ResNet50"),
        ("resnet101", 44.55, "ResNet101"),
        ("resnet152", 60.19, "ResNet152"),
    )),
    ("resnet_vd", "convnet", (
        ("resnet18_vd", 11.72, "ResNet18_vd resnet18d"),
        ("resnet34_vd", 21.84, "ResNet34_vd resnet34d"),
        ("resnet50_vd", 25.63, "ResNet50_vd resnet50d"),
        ("resnet101_vd", 44.67, "ResNet101_vd resnet101d"),
        ("resnet152_vd", 60.36, "ResNet152_vd resnet152d"),
        # PaddleClas's ResNet-200 stacks [3, 12, 48, 3] blocks; timm's stacks [3, 24, 36, 3].
        ("resnet200_vd", 74.93, "ResNet200_vd"),
        ("resnet200d", 64.69, ""),
    )),
    ("resnet_vc", "convnet", (
        ("resnet50_vc", 25.63, "ResNet50_vc"),
    )),
    ("resnext", "convnet", (
        ("resnext50_32x4d", 25.03, "ResNeXt50_32x4d"),
        ("resnext50_vd_32x4d", 25.12, "ResNeXt50_vd_32x4d resnext50d_32x4d"),
        ("resnext50_64x4d", 45.29, "ResNeXt50_64x4d"),
        ("resnext50_vd_64x4d", 45.31, "ResNeXt50_vd_64x4d"),
        ("resnext101_32x4d", 44.32, "ResNeXt101_32x4d"),
        ("resnext101_vd_32x4d", 44.33, "ResNeXt101_vd_32x4d"),
        ("resnext101_32x8d", 88.79, "ResNeXt101_32x8d ResNeXt101_32x8d_wsl ig_resnext101_32x8d"),
        ("resnext101_64x4d", 83.46, "ResNeXt101_64x4d"),
        ("resnext101_vd_64x4d", 83.68, "ResNeXt101_vd_64x4d"),
        ("resnext101_32x16d", 194.36, "ResNeXt101_32x16d_wsl ig_resnext101_32x16d"),
        ("resnext101_32x32d", 469.12, "ResNeXt101_32x32d_wsl ig_resnext101_32x32d"),
        ("resnext101_32x48d", 829.26, "ResNeXt101_32x48d_wsl ig_resnext101_32x48d"),
        ("resnext152_32x4d", 60.15, "ResNeXt152_32x4d"),
        ("resnext152_vd_32x4d", 60.17, "ResNeXt152_vd_32x4d"),
        ("resnext152_64x4d", 115.27, "ResNeXt152_64x4d"),
        ("resnext152_vd_64x4d", 115.29, "ResNeXt152_vd_64x4d"),
    )),
    ("wide_resnet", "convnet", (
        ("wide_resnet50_2", 68.88, "WideResNet50_2 wrn50_2"),
        ("wide_resnet101_2", 126.89, "WideResNet101_2 wrn101_2"),
    )),
    ("se_resnet", "convnet", (
        ("se_resnet18_vd", 11.81, "SE_ResNet18_vd"),
        ("se_resnet34_vd", 22.00, "SE_ResNet34_vd"),
        ("se_resnet50_vd", 28.16, "SE_ResNet50_vd"),
        ("seresnet50", 28.09, "se_resnet50 legacy_seresnet50"),
        ("seresnet101", 49.33, "se_resnet101 legacy_seresnet101"),
        ("seresnet152", 66.82, "se_resnet152 legacy_seresnet152"),
    )),
    ("se_resnext", "convnet", (
        ("se_resnext50_32x4d", 27.56, "SE_ResNeXt50_32x4d seresnext50_32x4d"
                                      " legacy_seresnext50_32x4d"),
        ("se_resnext50_vd_32x4d", 27.76, "SE_ResNeXt50_vd_32x4d"),
        ("se_resnext101_32x4d", 48.96, "SE_ResNeXt101_32x4d seresnext101_32x4d"
                                       " legacy_seresnext101_32x4d"),
    )),
    ("senet", "convnet", (
        ("senet154", 115.09, "SENet154 legacy_senet154"),
        ("senet154_vd", 114.29, "SENet154_vd"),
    )),
    ("res2net", "convnet", (
        ("res2net50_26w_4s", 25.70, "Res2Net50_26w_4s"),
        ("res2net50_14w_8s", 25.06, "Res2Net50_14w_8s"),
        ("res2net50_26w_6s", 37.05, ""),
        ("res2net50_26w_8s", 48.40, ""),
        ("res2net50_48w_2s", 25.29, ""),
        ("res2net101_26w_4s", 45.21, ""),
        ("res2net50_vd_26w_4s", 25.78, "Res2Net50_vd_26w_4s res2net50d"),
        ("res2net101_vd_26w_4s", 45.35, "Res2Net101_vd_26w_4s res2net101d"),
        ("res2net200_vd_26w_4s", 76.44, "Res2Net200_vd_26w_4s"),
    )),
    ("resnest", "convnet", (
        ("resnest14d", 10.61, ""),
        ("resnest26d", 17.07, ""),
        ("resnest50", 27.54, "ResNeSt50 resnest50d"),
        ("resnest50_fast_1s1x64d", 26.27, "ResNeSt50_fast_1s1x64d"),
        ("resnest101", 48.28, "ResNeSt101 resnest101e"),
        ("resnest200", 70.20, "ResNeSt200 resnest200e"),
        ("resnest269", 110.93, "ResNeSt269 resnest269e"),
    )),
    # --- Other classic batch-norm CNNs (SGD with momentum). ---
    ("densenet", "convnet", (
        ("densenet121", 7.98, "DenseNet121"),
        ("densenet161", 28.68, "DenseNet161"),
        ("densenet169", 14.15, "DenseNet169"),
        ("densenet201", 20.01, "DenseNet201"),
        ("densenet264", 33.74, "DenseNet264"),
    )),
    ("vgg", "convnet", (
        ("vgg11_bn", 132.87, "VGG11_bn"),
        ("vgg13_bn", 133.05, "VGG13_bn"),
        ("vgg16_bn", 138.37, "VGG16_bn"),
        ("vgg19_bn", 143.68, "VGG19_bn"),
    )),
    ("googlenet", "convnet", (
        # torchvision's count; PaddleClas's 11.54 M includes the two auxiliary heads.
        ("googlenet", 6.62, "GoogLeNet inception_v1 InceptionV1"),
    )),
    ("inception", "convnet", (
        # Without the auxiliary head (timm, Keras); torchvision's 27.16 M includes it.
        ("inception_v3", 23.83, "InceptionV3 tf_inception_v3 gluon_inception_v3"
                                " adv_inception_v3"),
        ("inception_v4", 42.68, "InceptionV4"),
        ("inception_resnet_v2", 55.84, "InceptionResNetV2 ens_adv_inception_resnet_v2"),
    )),
    ("xception", "convnet", (
        ("xception", 22.86, "legacy_xception Xception"),
        # PaddleClas's Xception41/65/71; timm's xception41/65 are the DeepLab-aligned variants
        # (26.97 M and 39.92 M), which PaddleClas lists as *_deeplab.
        ("xception41", 23.02, "Xception41"),
        ("xception41_deeplab", 27.08, "Xception41_deeplab"),
        ("xception65", 36.04, "Xception65"),
        ("xception65_deeplab", 40.10, "Xception65_deeplab"),
        ("xception71", 37.86, "Xception71"),
    )),
    ("regnet", "convnet", (
        ("regnetx_002", 2.68, "RegNetX_200MF regnet_x_200mf"),
        # torchvision's count; the paper, timm and PaddleClas give 5.2 M for the same design.
        ("regnet_x_400mf", 5.50, "regnetx_004 RegNetX_400MF"),
        ("regnetx_006", 6.20, "RegNetX_600MF regnet_x_600mf"),
        ("regnet_x_800mf", 7.26, "regnetx_008 RegNetX_800MF"),
        ("regnet_x_1_6gf", 9.19, "regnetx_016 RegNetX_1600MF RegNetX_1.6GF"),
        ("regnet_x_3_2gf", 15.30, "regnetx_032 RegNetX_3200MF RegNetX_3.2GF"),
        ("regnetx_040", 22.12, "RegNetX_4GF regnet_x_4gf"),
        ("regnetx_064", 26.21, "RegNetX_6400MF regnet_x_6_4gf"),
        ("regnet_x_8gf", 39.57, "regnetx_080 RegNetX_8GF"),
        ("regnetx_120", 46.11, "RegNetX_12GF regnet_x_12gf"),
        ("regnet_x_16gf", 54.28, "regnetx_160 RegNetX_16GF"),
        ("regnet_x_32gf", 107.81, "regnetx_320 RegNetX_32GF"),
        ("regnety_002", 3.16, "RegNetY_200MF regnet_y_200mf"),
        ("regnet_y_400mf", 4.34, "regnety_004 RegNetY_400MF"),
        ("regnety_006", 6.06, "RegNetY_600MF regnet_y_600mf"),
        ("regnet_y_800mf", 6.43, "regnety_008 RegNetY_800MF"),
        ("regnet_y_1_6gf", 11.20, "regnety_016 RegNetY_1600MF RegNetY_1.6GF"),
        ("regnet_y_3_2gf", 19.44, "regnety_032 RegNetY_3200MF RegNetY_3.2GF"),
        ("regnety_040", 20.65, "RegNetY_4GF regnet_y_4gf"),
        ("regnety_064", 30.58, "RegNetY_6400MF regnet_y_6_4gf"),
        ("regnet_y_8gf", 39.38, "regnety_080 RegNetY_8GF"),
        ("regnety_120", 51.82, "RegNetY_12GF regnet_y_12gf"),
        ("regnet_y_16gf", 83.59, "regnety_160 RegNetY_16GF"),
        ("regnet_y_32gf", 145.05, "regnety_320 RegNetY_32GF"),
        ("regnet_y_128gf", 644.81, "RegNetY_128GF"),
    )),
    ("repvgg", "convnet", (
        # Deployed (re-parameterised) counts, as in the paper and PaddleClas; timm's model cards
        # count the training-time branches and so report more.
        ("repvgg_a0", 8.31, "RepVGG_A0"),
        ("repvgg_a1", 12.79, "RepVGG_A1"),
        ("repvgg_a2", 25.50, "RepVGG_A2"),
        ("repvgg_b0", 14.34, "RepVGG_B0"),
        ("repvgg_b1", 51.83, "RepVGG_B1"),
        ("repvgg_b1g2", 41.36, "RepVGG_B1g2"),
        ("repvgg_b1g4", 36.13, "RepVGG_B1g4"),
        ("repvgg_b2", 80.32, "RepVGG_B2"),
        ("repvgg_b2g4", 55.78, "RepVGG_B2g4"),
        ("repvgg_b3", 110.96, "RepVGG_B3"),
        ("repvgg_b3g4", 75.63, "RepVGG_B3g4"),
    )),
    ("dpn", "convnet", (
        ("dpn68", 12.61, "DPN68"),
        ("dpn92", 37.67, "DPN92"),
        ("dpn98", 61.57, "DPN98"),
        ("dpn107", 86.92, "DPN107"),
        ("dpn131", 79.25, "DPN131"),
    )),
    ("hrnet", "convnet", (
        ("hrnet_w18_small", 13.19, ""),
        ("hrnet_w18_small_v2", 15.60, ""),
        ("hrnet_w18_c", 21.35, "HRNet_W18_C hrnet_w18"),
        ("hrnet_w30_c", 37.78, "HRNet_W30_C hrnet_w30"),
        ("hrnet_w32_c", 41.30, "HRNet_W32_C hrnet_w32"),
        ("hrnet_w40_c", 57.64, "HRNet_W40_C hrnet_w40"),
        ("hrnet_w44_c", 67.16, "HRNet_W44_C hrnet_w44"),
        ("hrnet_w48_c", 77.57, "HRNet_W48_C hrnet_w48"),
        ("hrnet_w64_c", 128.18, "HRNet_W64_C hrnet_w64"),
        ("se_hrnet_w64_c", 129.12, "SE_HRNet_W64_C"),
    )),
    ("darknet", "convnet", (
        ("darknet53", 41.61, "DarkNet53"),
    )),
    ("cspnet", "convnet", (
        ("cspdarknet53", 27.64, "CSPDarkNet53"),
        ("cspresnet50", 21.62, "CSPResNet50"),
        ("cspresnext50", 20.57, "CSPResNeXt50"),
    )),
    ("dla", "convnet", (
        ("dla46_c", 1.31, "DLA46_c"),
        ("dla60x_c", 1.33, "DLA60x_c"),
        ("dla34", 15.76, "DLA34"),
        ("dla60", 22.08, "DLA60"),
        ("dla60x", 17.41, "DLA60x"),
        ("dla102", 33.34, "DLA102"),
        ("dla102x", 26.40, "DLA102x"),
        ("dla102x2", 41.42, "DLA102x2"),
        ("dla169", 53.50, "DLA169"),
    )),
    ("hardnet", "convnet", (
        ("hardnet68", 17.58, "HarDNet68"),
        ("hardnet85", 36.69, "HarDNet85"),
    )),
    ("rednet", "convnet", (
        ("rednet26", 9.26, "RedNet26"),
        ("rednet38", 12.43, "RedNet38"),
        ("rednet50", 15.60, "RedNet50"),
        ("rednet101", 25.76, "RedNet101"),
        ("rednet152", 34.14, "RedNet152"),
    )),
    ("pphgnet", "convnet", (
        ("pphgnet_tiny", 14.75, "PPHGNet_tiny PP-HGNet_tiny"),
        ("pphgnet_small", 24.38, "PPHGNet_small PP-HGNet_small"),
        ("pphgnet_base", 71.62, "PPHGNet_base PP-HGNet_base"),
    )),
    # --- No batch norm: AlexNet, plain VGG and SqueezeNet need a smaller learning rate. ---
    ("alexnet", "convnet_no_bn", (
        ("alexnet", 61.10, "AlexNet"),
    )),
    ("vgg", "convnet_no_bn", (
        ("vgg11", 132.86, "VGG11 VGG-11"),
        ("vgg13", 133.05, "VGG13 VGG-13"),
        ("vgg16", 138.36, "VGG16 VGG-16"),
        ("vgg19", 143.67, "VGG19 VGG-19"),
    )),
    ("squeezenet", "convnet_no_bn", (
        ("squeezenet1_0", 1.25, "SqueezeNet1_0 squeezenet"),
        ("squeezenet1_1", 1.24, "SqueezeNet1_1"),
    )),
    # --- Hand-designed mobile networks (SGD with momentum, small weight decay). ---
    ("mobilenet_v1", "mobile_convnet", (
        ("mobilenet_v1_x0_25", 0.46, "MobileNetV1_x0_25 mobilenetv1_025"),
        ("mobilenet_v1_x0_5", 1.31, "MobileNetV1_x0_5 mobilenetv1_050"),
        ("mobilenet_v1_x0_75", 2.55, "MobileNetV1_x0_75 mobilenetv1_075"),
        ("mobilenet_v1", 4.19, "MobileNetV1 MobileNetV1_x1_0 mobilenetv1_100"),
    )),
    ("mobilenet_v2", "mobile_convnet", (
        ("mobilenet_v2_x0_25", 1.50, "MobileNetV2_x0_25"),
        ("mobilenetv2_035", 1.68, ""),
        ("mobilenet_v2_x0_5", 1.93, "MobileNetV2_x0_5 mobilenetv2_050"),
        ("mobilenet_v2_x0_75", 2.58, "MobileNetV2_x0_75 mobilenetv2_075"),
        ("mobilenet_v2", 3.50, "MobileNetV2 MobileNetV2_x1_0 mobilenetv2_100"),
        ("mobilenetv2_110d", 4.52, ""),
        ("mobilenetv2_120d", 5.83, ""),
        ("mobilenetv2_140", 6.11, ""),
        ("mobilenet_v2_x1_5", 6.76, "MobileNetV2_x1_5"),
        ("mobilenet_v2_x2_0", 11.13, "MobileNetV2_x2_0"),
    )),
    ("shufflenet_v2", "mobile_convnet", (
        ("shufflenet_v2_x0_25", 0.60, "ShuffleNetV2_x0_25"),
        ("shufflenet_v2_x0_33", 0.64, "ShuffleNetV2_x0_33"),
        ("shufflenet_v2_x0_5", 1.37, "ShuffleNetV2_x0_5"),
        ("shufflenet_v2_x1_0", 2.28, "ShuffleNetV2_x1_0 ShuffleNetV2"),
        ("shufflenet_v2_swish", 2.26, "ShuffleNetV2_swish"),
        ("shufflenet_v2_x1_5", 3.50, "ShuffleNetV2_x1_5"),
        ("shufflenet_v2_x2_0", 7.39, "ShuffleNetV2_x2_0"),
    )),
    ("ghostnet", "mobile_convnet", (
        ("ghostnet_x0_5", 2.60, "GhostNet_x0_5 ghostnet_050"),
        ("ghostnet_x1_0", 5.20, "GhostNet_x1_0 GhostNet ghostnet_100"),
        ("ghostnet_x1_3", 7.30, "GhostNet_x1_3 ghostnet_130"),
    )),
    ("pplcnet", "mobile_convnet", (
        ("pplcnet_x0_25", 1.52, "PPLCNet_x0_25 PP-LCNet_x0_25 lcnet_025"),
        ("pplcnet_x0_35", 1.65, "PPLCNet_x0_35 PP-LCNet_x0_35 lcnet_035"),
        ("pplcnet_x0_5", 1.89, "PPLCNet_x0_5 PP-LCNet_x0_5 lcnet_050"),
        ("pplcnet_x0_75", 2.37, "PPLCNet_x0_75 PP-LCNet_x0_75 lcnet_075"),
        ("pplcnet_x1_0", 2.96, "PPLCNet_x1_0 PP-LCNet_x1_0 PPLCNet lcnet_100"),
        ("pplcnet_x1_5", 4.52, "PPLCNet_x1_5 PP-LCNet_x1_5 lcnet_150"),
        ("pplcnet_x2_0", 6.54, "PPLCNet_x2_0 PP-LCNet_x2_0"),
        ("pplcnet_x2_5", 9.04, "PPLCNet_x2_5 PP-LCNet_x2_5"),
    )),
    ("pplcnet_v2", "mobile_convnet", (
        ("pplcnetv2_base", 6.60, "PPLCNetV2_base PP-LCNetV2_base PPLCNetV2"),
    )),
    ("esnet", "mobile_convnet", (
        ("esnet_x0_25", 2.83, "ESNet_x0_25"),
        ("esnet_x0_5", 3.25, "ESNet_x0_5"),
        ("esnet_x0_75", 3.87, "ESNet_x0_75"),
        ("esnet_x1_0", 4.64, "ESNet_x1_0"),
    )),
    ("rexnet", "mobile_convnet", (
        ("rexnet_100", 4.80, "ReXNet_1_0 rexnet_1.0"),
        ("rexnet_130", 7.56, "ReXNet_1_3 rexnet_1.3"),
        ("rexnet_150", 9.73, "ReXNet_1_5 rexnet_1.5"),
        ("rexnet_200", 16.37, "ReXNet_2_0 rexnet_2.0"),
        ("rexnet_300", 34.71, "ReXNet_3_0 rexnet_3.0"),
    )),
    ("hardnet", "mobile_convnet", (
        ("hardnet39_ds", 3.51, "HarDNet39_ds"),
        ("hardnet68_ds", 4.20, "HarDNet68_ds"),
    )),
    ("peleenet", "mobile_convnet", (
        ("peleenet", 2.81, "PeleeNet"),
    )),
    # --- The TF / NAS lineage, trained with RMSProp in their reference recipes. ---
    ("mobilenet_v3", "nas_convnet", (
        ("mobilenet_v3_large_x0_35", 2.10, "MobileNetV3_large_x0_35"),
        ("mobilenet_v3_large_x0_5", 2.67, "MobileNetV3_large_x0_5 mobilenetv3_large_050"),
        ("mobilenet_v3_large_x0_75", 3.91, "MobileNetV3_large_x0_75 mobilenetv3_large_075"
                                           " tf_mobilenetv3_large_075"),
        ("mobilenet_v3_large", 5.48, "MobileNetV3_large_x1_0 mobilenetv3_large_100"
                                     " tf_mobilenetv3_large_100 MobileNetV3_large"),
        ("mobilenet_v3_large_x1_25", 7.44, "MobileNetV3_large_x1_25"),
        # torchvision and timm give the small model a 1024-wide head; PaddleClas's
        # MobileNetV3_small_* use 1280, hence their larger counts.
        ("mobilenetv3_small_050", 1.59, "tf_mobilenetv3_small_050"),
        ("mobilenetv3_small_075", 2.04, "tf_mobilenetv3_small_075"),
        ("mobilenet_v3_small", 2.54, "mobilenetv3_small_100 tf_mobilenetv3_small_100"
                                     " MobileNetV3_small"),
        ("mobilenet_v3_small_x0_35", 1.66, "MobileNetV3_small_x0_35"),
        ("mobilenet_v3_small_x0_5", 1.90, "MobileNetV3_small_x0_5"),
        ("mobilenet_v3_small_x0_75", 2.37, "MobileNetV3_small_x0_75"),
        ("mobilenet_v3_small_x1_0", 2.94, "MobileNetV3_small_x1_0"),
        ("mobilenet_v3_small_x1_25", 3.62, "MobileNetV3_small_x1_25"),
    )),
    ("mnasnet", "nas_convnet", (
        ("mnasnet0_5", 2.22, "mnasnet_050 MnasNet0_5"),
        ("mnasnet0_75", 3.17, "mnasnet_075 MnasNet0_75"),
        ("mnasnet1_0", 4.38, "mnasnet_100 MnasNet1_0 mnasnet"),
        ("mnasnet1_3", 6.28, "mnasnet_130 MnasNet1_3"),
    )),
    ("mixnet", "nas_convnet", (
        ("mixnet_s", 4.13, "MixNet_S tf_mixnet_s"),
        ("mixnet_m", 5.01, "MixNet_M tf_mixnet_m"),
        ("mixnet_l", 7.33, "MixNet_L tf_mixnet_l"),
        ("mixnet_xl", 11.90, "MixNet_XL"),
    )),
    ("efficientnet", "nas_convnet", (
        ("efficientnet_b0", 5.29, "EfficientNetB0 tf_efficientnet_b0 efficientnet-b0"),
        ("efficientnet_b1", 7.79, "EfficientNetB1 tf_efficientnet_b1"),
        ("efficientnet_b2", 9.11, "EfficientNetB2 tf_efficientnet_b2"),
        ("efficientnet_b3", 12.23, "EfficientNetB3 tf_efficientnet_b3"),
        ("efficientnet_b4", 19.34, "EfficientNetB4 tf_efficientnet_b4"),
        ("efficientnet_b5", 30.39, "EfficientNetB5 tf_efficientnet_b5"),
        ("efficientnet_b6", 43.04, "EfficientNetB6 tf_efficientnet_b6"),
        ("efficientnet_b7", 66.35, "EfficientNetB7 tf_efficientnet_b7"),
        ("efficientnet_b0_small", 4.65, "EfficientNetB0_small"),
        ("efficientnet_lite0", 4.65, "tf_efficientnet_lite0"),
        ("efficientnet_lite1", 5.42, "tf_efficientnet_lite1"),
        ("efficientnet_lite2", 6.09, "tf_efficientnet_lite2"),
        ("efficientnet_lite3", 8.20, "tf_efficientnet_lite3"),
        ("efficientnet_lite4", 13.01, "tf_efficientnet_lite4"),
    )),
    ("efficientnet_v2", "nas_convnet", (
        ("efficientnet_v2_b0", 7.14, "tf_efficientnetv2_b0 EfficientNetV2_B0"),
        ("efficientnet_v2_b1", 8.14, "tf_efficientnetv2_b1 EfficientNetV2_B1"),
        ("efficientnet_v2_b2", 10.10, "tf_efficientnetv2_b2 EfficientNetV2_B2"),
        ("efficientnet_v2_b3", 14.36, "tf_efficientnetv2_b3 EfficientNetV2_B3"),
        ("efficientnetv2_rw_t", 13.65, ""),
        ("efficientnet_v2_s", 21.46, "tf_efficientnetv2_s EfficientNetV2_S"),
        ("efficientnetv2_rw_s", 23.94, ""),
        ("efficientnetv2_rw_m", 53.24, ""),
        ("efficientnet_v2_m", 54.14, "tf_efficientnetv2_m EfficientNetV2_M"),
        ("efficientnet_v2_l", 118.52, "tf_efficientnetv2_l EfficientNetV2_L"),
        ("efficientnet_v2_xl", 208.12, "tf_efficientnetv2_xl EfficientNetV2_XL"),
    )),
    # --- Modern convnets trained with AdamW and transformer-style recipes. ---
    ("convnext", "modern_convnet", (
        ("convnext_atto", 3.70, ""),
        ("convnext_femto", 5.22, ""),
        ("convnext_pico", 9.05, ""),
        ("convnext_nano", 15.62, ""),
        ("convnext_tiny", 28.59, "ConvNeXt_tiny ConvNeXt-T"),
        ("convnext_small", 50.22, "ConvNeXt_small ConvNeXt-S"),
        ("convnext_base", 88.59, "ConvNeXt_base ConvNeXt_base_224 ConvNeXt_base_384 ConvNeXt-B"),
        ("convnext_large", 197.77, "ConvNeXt_large ConvNeXt_large_224 ConvNeXt_large_384"
                                   " ConvNeXt-L"),
        ("convnext_xlarge", 350.20, "ConvNeXt-XL"),
    )),
    ("convnext_v2", "modern_convnet", (
        ("convnextv2_atto", 3.71, "convnext_v2_atto"),
        ("convnextv2_femto", 5.23, "convnext_v2_femto"),
        ("convnextv2_pico", 9.07, "convnext_v2_pico"),
        ("convnextv2_nano", 15.62, "convnext_v2_nano"),
        ("convnextv2_tiny", 28.64, "convnext_v2_tiny"),
        ("convnextv2_base", 88.72, "convnext_v2_base"),
        ("convnextv2_large", 197.96, "convnext_v2_large"),
        ("convnextv2_huge", 660.29, "convnext_v2_huge"),
    )),
    ("van", "modern_convnet", (
        ("van_b0", 4.11, "VAN_B0 VAN-B0"),
        ("van_b1", 13.87, "VAN_B1 VAN-B1"),
        ("van_b2", 26.59, "VAN_B2 VAN-B2"),
        ("van_b3", 44.79, "VAN_B3 VAN-B3"),
    )),
    # --- Vision transformers (AdamW, warm-up, strong augmentation). ---
    ("vit", "transformer", (
        ("vit_tiny_patch16_224", 5.72, "ViT-Ti/16"),
        ("vit_tiny_patch16_384", 5.79, ""),
        # PaddleClas's ViT_small_patch16_224 is an older 48.6 M layout (depth 8, width 768);
        # its spelling resolves here, to the 22 M ViT-S/16 of timm and the DeiT paper.
        ("vit_small_patch16_224", 22.05, "ViT_small_patch16_224 ViT-S/16"),
        ("vit_small_patch16_384", 22.20, ""),
        ("vit_small_patch32_224", 22.88, "ViT-S/32"),
        ("vit_b_16", 86.57, "vit_base_patch16_224 ViT_base_patch16_224 ViT-B/16"),
        ("vit_base_patch16_384", 86.86, "ViT_base_patch16_384"),
        ("vit_b_32", 88.22, "vit_base_patch32_224 ViT_base_patch32_224 ViT-B/32"),
        ("vit_base_patch32_384", 88.30, "ViT_base_patch32_384"),
        ("vit_l_16", 304.33, "vit_large_patch16_224 ViT_large_patch16_224 ViT-L/16"),
        ("vit_large_patch16_384", 304.72, "ViT_large_patch16_384"),
        ("vit_l_32", 306.54, "vit_large_patch32_224 ViT_large_patch32_224 ViT-L/32"),
        ("vit_large_patch32_384", 306.63, "ViT_large_patch32_384"),
        ("vit_h_14", 632.05, "vit_huge_patch14_224 ViT-H/14"),
    )),
    ("deit", "transformer", (
        ("deit_tiny_patch16_224", 5.72, "DeiT_tiny_patch16_224 deit_tiny DeiT-Ti"),
        ("deit_small_patch16_224", 22.05, "DeiT_small_patch16_224 deit_small DeiT-S"),
        ("deit_base_patch16_224", 86.57, "DeiT_base_patch16_224 deit_base DeiT-B"),
        ("deit_base_patch16_384", 86.86, "DeiT_base_patch16_384"),
        ("deit_tiny_distilled_patch16_224", 5.91, "DeiT_tiny_distilled_patch16_224"),
        ("deit_small_distilled_patch16_224", 22.44, "DeiT_small_distilled_patch16_224"),
        ("deit_base_distilled_patch16_224", 87.34, "DeiT_base_distilled_patch16_224"),
        ("deit_base_distilled_patch16_384", 87.63, "DeiT_base_distilled_patch16_384"),
    )),
    ("swin", "transformer", (
        ("swin_t", 28.29, "swin_tiny_patch4_window7_224 SwinTransformer_tiny_patch4_window7_224"
                          " Swin-T swin_tiny"),
        ("swin_s", 49.61, "swin_small_patch4_window7_224"
                          " SwinTransformer_small_patch4_window7_224 Swin-S swin_small"),
        ("swin_b", 87.77, "swin_base_patch4_window7_224 SwinTransformer_base_patch4_window7_224"
                          " Swin-B swin_base"),
        ("swin_base_patch4_window12_384", 87.90, "SwinTransformer_base_patch4_window12_384"),
        ("swin_large_patch4_window7_224", 196.53, "SwinTransformer_large_patch4_window7_224"
                                                  " Swin-L swin_large swin_l"),
        ("swin_large_patch4_window12_384", 196.74, "SwinTransformer_large_patch4_window12_384"),
    )),
    ("swin_v2", "transformer", (
        ("swin_v2_t", 28.35, "swinv2_tiny_window8_256"
                             " SwinTransformerV2_tiny_patch4_window8_256 SwinV2-T"),
        ("swinv2_tiny_window16_256", 28.35, "SwinTransformerV2_tiny_patch4_window16_256"),
        ("swin_v2_s", 49.73, "swinv2_small_window8_256"
                             " SwinTransformerV2_small_patch4_window8_256 SwinV2-S"),
        ("swinv2_small_window16_256", 49.73, "SwinTransformerV2_small_patch4_window16_256"),
        ("swin_v2_b", 87.93, "swinv2_base_window8_256"
                             " SwinTransformerV2_base_patch4_window8_256 SwinV2-B"),
        ("swinv2_base_window16_256", 87.92, "SwinTransformerV2_base_patch4_window16_256"),
        ("swinv2_base_window12to24_192to384", 87.92,
         "SwinTransformerV2_base_patch4_window24_384"),
        ("swinv2_large_window12to24_192to384", 196.74,
         "SwinTransformerV2_large_patch4_window24_384"),
    )),
    ("pvt_v2", "transformer", (
        ("pvt_v2_b0", 3.67, "PVT_V2_B0 PVTv2-B0"),
        ("pvt_v2_b1", 14.01, "PVT_V2_B1 PVTv2-B1"),
        ("pvt_v2_b2_li", 22.55, "PVT_V2_B2_Linear"),
        ("pvt_v2_b2", 25.36, "PVT_V2_B2 PVTv2-B2"),
        ("pvt_v2_b3", 45.24, "PVT_V2_B3 PVTv2-B3"),
        ("pvt_v2_b4", 62.56, "PVT_V2_B4 PVTv2-B4"),
        ("pvt_v2_b5", 81.96, "PVT_V2_B5 PVTv2-B5"),
    )),
    ("twins", "transformer", (
        ("twins_pcpvt_small", 24.11, "pcpvt_small"),
        ("twins_pcpvt_base", 43.83, "pcpvt_base"),
        ("twins_pcpvt_large", 60.99, "pcpvt_large"),
        ("twins_svt_small", 24.06, "alt_gvt_small"),
        ("twins_svt_base", 56.07, "alt_gvt_base"),
        ("twins_svt_large", 99.27, "alt_gvt_large"),
    )),
    ("cswin", "transformer", (
        ("cswin_tiny_224", 22.0, "CSWinTransformer_tiny_224 cswin_tiny CSWin-T"),
        ("cswin_small_224", 35.0, "CSWinTransformer_small_224 cswin_small CSWin-S"),
        ("cswin_base_224", 77.0, "CSWinTransformer_base_224 CSWinTransformer_base_384"
                                 " cswin_base CSWin-B"),
        ("cswin_large_224", 173.3, "CSWinTransformer_large_224 CSWinTransformer_large_384"
                                   " cswin_large CSWin-L"),
    )),
    ("levit", "transformer", (
        ("levit_128s", 7.42, "LeViT_128S"),
        ("levit_128", 8.87, "LeViT_128"),
        ("levit_192", 10.61, "LeViT_192"),
        ("levit_256", 18.45, "LeViT_256"),
        ("levit_384", 38.45, "LeViT_384"),
    )),
    ("tnt", "transformer", (
        ("tnt_s_patch16_224", 23.76, "TNT_small tnt_small TNT-S"),
        ("tnt_b_patch16_224", 65.41, "TNT_base tnt_base TNT-B"),
    )),
    ("cait", "transformer", (
        ("cait_xxs24_224", 11.96, ""),
        ("cait_xxs36_224", 17.30, ""),
        ("cait_xs24_384", 26.67, ""),
        ("cait_s24_224", 46.92, ""),
        ("cait_s24_384", 47.06, ""),
        ("cait_s36_384", 68.37, ""),
        ("cait_m36_384", 271.22, ""),
        ("cait_m48_448", 356.46, ""),
    )),
    ("beit", "transformer", (
        ("beit_base_patch16_224", 86.53, "BEiT-B"),
        ("beit_large_patch16_224", 304.43, "BEiT-L"),
    )),
    ("maxvit", "transformer", (
        ("maxvit_t", 30.92, "maxvit_tiny_tf_224 MaxViT-T maxvit_tiny"),
        ("maxvit_small_tf_224", 68.93, "MaxViT-S maxvit_small"),
        ("maxvit_base_tf_224", 119.47, "MaxViT-B maxvit_base"),
        ("maxvit_large_tf_224", 211.79, "MaxViT-L maxvit_large"),
    )),
    # --- Small convolution/attention hybrids (AdamW, higher learning rates). ---
    ("mobilevit", "hybrid", (
        ("mobilevit_xxs", 1.27, "MobileViT_XXS"),
        ("mobilevit_xs", 2.32, "MobileViT_XS"),
        ("mobilevit_s", 5.58, "MobileViT_S MobileViT"),
    )),
    ("mobilevit_v2", "hybrid", (
        ("mobilevitv2_050", 1.37, "MobileViTV2_x0_5"),
        ("mobilevitv2_075", 2.87, "MobileViTV2_x0_75"),
        ("mobilevitv2_100", 4.90, "MobileViTV2_x1_0 MobileViTV2"),
        ("mobilevitv2_125", 7.48, "MobileViTV2_x1_25"),
        ("mobilevitv2_150", 10.59, "MobileViTV2_x1_5"),
        ("mobilevitv2_175", 14.25, "MobileViTV2_x1_75"),
        ("mobilevitv2_200", 18.45, "MobileViTV2_x2_0"),
    )),
    ("efficientformer", "hybrid", (
        ("efficientformer_l1", 12.29, "EfficientFormer-L1"),
        ("efficientformer_l3", 31.41, "EfficientFormer-L3"),
        ("efficientformer_l7", 82.23, "EfficientFormer-L7"),
    )),
)
# fmt: on


_STRIP = re.compile(r"[-_ .]")
_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[-_ .]+(?=\d)")

#: Keys that plain normalisation cannot tell apart, because it merges "1_6" with "16" and "3_2"
#: with "32". Names spelled with their separators still resolve exactly (see ``_exact_key``);
#: only the bare run-together key is ambiguous, and it yields suggestions instead of a guess.
_EXPECTED_AMBIGUOUS = frozenset({"regnetx16gf", "regnetx32gf", "regnety16gf", "regnety32gf"})


def normalize(name: str) -> str:
    """Lower-case ``name`` and drop dashes, underscores, spaces and dots."""
    return _STRIP.sub("", name.lower())


def _exact_key(name: str) -> str:
    """Like ``normalize``, but a separator between two digits survives as '|'.

    This keeps "regnet_x_1_6gf" (1.6 GFLOPs) apart from "regnet_x_16gf" (16 GFLOPs) while
    still equating "RegNetX_1.6GF" with "regnet-x-1-6gf".
    """
    return _STRIP.sub("", _DIGIT_SEPARATOR.sub("|", name.strip().lower()))


def _expand(data: tuple[_Group, ...]) -> tuple[ModelInfo, ...]:
    return tuple(
        ModelInfo(
            name=name,
            family=family,
            params_millions=params,
            kind=kind,
            aliases=tuple(aliases.split()),
        )
        for family, kind, rows in data
        for name, params, aliases in rows
    )


def _spellings(model: ModelInfo) -> tuple[str, ...]:
    return (model.name, *model.aliases)


def _build_indexes(
    models: tuple[ModelInfo, ...],
) -> tuple[dict[str, ModelInfo], dict[str, ModelInfo], dict[str, tuple[ModelInfo, ...]]]:
    """Index every spelling; refuse two entries behind one exact key.

    Returns the exact index, the normalised index (unambiguous keys only) and the normalised
    keys shared by more than one entry.
    """
    exact: dict[str, ModelInfo] = {}
    by_norm: dict[str, list[ModelInfo]] = {}
    for model in models:
        for spelling in _spellings(model):
            key = _exact_key(spelling)
            other = exact.setdefault(key, model)
            if other is not model:
                raise ValueError(
                    f"catalog spelling {spelling!r} of {model.name!r} collides with "
                    f"{other.name!r} (key {key!r})"
                )
            owners = by_norm.setdefault(normalize(spelling), [])
            if model not in owners:
                owners.append(model)
    loose = {key: owners[0] for key, owners in by_norm.items() if len(owners) == 1}
    ambiguous = {key: tuple(owners) for key, owners in by_norm.items() if len(owners) > 1}
    return exact, loose, ambiguous


_MODELS: tuple[ModelInfo, ...] = _expand(_DATA)
_EXACT, _LOOSE, _AMBIGUOUS = _build_indexes(_MODELS)

#: Every normalised spelling with the entries behind it, ambiguous ones included.
_ALL_KEYS: dict[str, tuple[ModelInfo, ...]] = {
    **{key: (model,) for key, model in _LOOSE.items()},
    **_AMBIGUOUS,
}

if len({m.name for m in _MODELS}) != len(_MODELS):
    raise ValueError("catalog has two entries with the same canonical name")
if set(_AMBIGUOUS) != _EXPECTED_AMBIGUOUS:
    raise ValueError(f"unexpected normalised-name collisions: {sorted(_AMBIGUOUS)}")


def _candidates(name: str) -> list[str]:
    """The spelling itself, then the same without a timm weight tag or a PaddleClas suffix."""
    out = [name]
    base, dot, tag = name.rpartition(".")
    if dot and base and tag[:1].isalpha():  # "resnet50.a1_in1k" -> "resnet50"
        out.append(base)
    for spelling in list(out):
        trimmed = re.sub(r"[-_ ]?ssld$", "", spelling, flags=re.IGNORECASE)
        if trimmed and trimmed != spelling:
            out.append(trimmed)
    return out


def find_model(name: str) -> ModelInfo | None:
    """The entry for ``name`` under any known spelling, ignoring case and separators."""
    stripped = name.strip()
    if not stripped:
        return None
    for spelling in _candidates(stripped):
        model = _EXACT.get(_exact_key(spelling)) or _LOOSE.get(normalize(spelling))
        if model is not None:
            return model
    return None


def suggest_models(name: str, n: int = 5) -> list[str]:
    """Up to ``n`` canonical names close to ``name``, best first.

    Entries whose spelling starts with the query (or that the query starts with) come first,
    then the nearest spellings by ``difflib`` similarity on normalised keys.
    """
    key = normalize(name)
    if not key or n <= 0:
        return []
    out: list[str] = []

    def add(models: tuple[ModelInfo, ...] | list[ModelInfo]) -> None:
        for model in models:
            if model.name not in out:
                out.append(model.name)

    by_key = _ALL_KEYS
    found = find_model(name)
    if found is not None:
        add([found])
    add(_AMBIGUOUS.get(key, ()))
    # The longest known name the query starts with: "resnet50custom" -> resnet50.
    heads = [k for k in by_key if len(k) >= 4 and key.startswith(k) and k != key]
    if heads:
        add(by_key[max(heads, key=len)])
    if len(key) >= 3:
        for k in sorted((k for k in by_key if k.startswith(key)), key=lambda k: (len(k), k)):
            add(by_key[k])
            if len(out) >= n:
                break
    for cutoff in (0.6, 0.4):
        for k in difflib.get_close_matches(key, list(by_key), n=4 * n, cutoff=cutoff):
            add(by_key[k])
        if out:
            break
    return out[:n]


def list_models(family: str | None = None) -> list[ModelInfo]:
    """All entries, or one family's (case- and separator-insensitive), by family then size."""
    wanted = None if family is None else normalize(family)
    chosen = [m for m in _MODELS if wanted is None or normalize(m.family) == wanted]
    return sorted(chosen, key=lambda m: (m.family, m.params_millions, m.name))


def families() -> list[str]:
    """The catalog's family names, sorted."""
    return sorted({m.family for m in _MODELS})
