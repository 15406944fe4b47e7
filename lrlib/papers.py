"""The papers' own numbers that the notebooks put beside ours (typed from the paper texts in
``shared/papers``; each constant names its table). Never our results: those come from runs."""

from __future__ import annotations

#: Tan, Yan, Bare, "Feature Super-Resolution", CVPR 2018, Table 1: variance of the HR-LR
#: Euclidean feature distance per down-scaling (area) ratio, VGG16 fc7 on Oxford5K.
FSR_TABLE1_VARIANCE: dict[str, float] = {
    "1/4": 0.0070, "1/9": 0.0103, "1/16": 0.0107, "1/25": 0.0101,
    "1/36": 0.0091, "1/49": 0.0078, "1/64": 0.0068, "Average": 0.0088,
}

CITATIONS: dict[str, str] = {
    "fsr": "W. Tan, B. Yan, B. Bare. Feature Super-Resolution: Make Machine See More Clearly. CVPR 2018.",
    "dfd": ("M. Zhu, K. Han, C. Zhang, J. Lin, Y. Wang. Low-Resolution Visual Recognition via Deep Feature "
            "Distillation. ICASSP 2019."),
    "transfer": ("Z. Wu, Y. Zhang, Z. Wang. Unsupervised Deep Feature Transfer for Low Resolution "
                 "Image Classification. ICCV Workshops 2019."),
}

#: Zhu et al., "Low-Resolution Visual Recognition via Deep Feature Distillation", ICASSP 2019, Table 1:
#: top-1 accuracy (%) of the LR baseline and of DFD, per network, data set and LR size.
DFD_TABLE1: dict[tuple[str, str, str], dict[str, float]] = {
    ("alexnet", "cifar10", "8x8"): {"baseline": 64.08, "dfd": 66.23},
    ("alexnet", "cifar10", "16x16"): {"baseline": 69.10, "dfd": 71.60},
    ("alexnet", "svhn", "8x8"): {"baseline": 81.81, "dfd": 81.97},
    ("alexnet", "svhn", "16x16"): {"baseline": 87.77, "dfd": 88.35},
    ("vgg16", "cifar10", "8x8"): {"baseline": 78.41, "dfd": 79.97},
    ("vgg16", "cifar10", "16x16"): {"baseline": 88.02, "dfd": 89.35},
    ("vgg16", "svhn", "8x8"): {"baseline": 90.40, "dfd": 91.11},
    ("vgg16", "svhn", "16x16"): {"baseline": 95.52, "dfd": 95.90},
    ("resnet18", "cifar10", "8x8"): {"baseline": 79.86, "dfd": 81.26},
    ("resnet18", "cifar10", "16x16"): {"baseline": 89.12, "dfd": 90.41},
    ("resnet18", "svhn", "8x8"): {"baseline": 90.45, "dfd": 92.07},
    ("resnet18", "svhn", "16x16"): {"baseline": 95.55, "dfd": 96.02},
}

#: The same paper, Table 2: CIFAR-10, 8x8 -> 16x16 super-resolution, then ResNet-18 (top-1, %).
DFD_TABLE2: dict[str, float] = {
    "HR-baseline": 93.38, "LR-baseline": 79.86, "VDSR + ResNet-18": 80.00, "ESPCN + ResNet-18": 79.41,
    "SRGAN + ResNet-18": 79.05, "DFD (ResNet-18)": 81.26,
}
