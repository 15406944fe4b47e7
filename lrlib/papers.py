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
    "transfer": ("Z. Wu, Y. Zhang, Z. Wang. Unsupervised Deep Feature Transfer for Low Resolution "
                 "Image Classification. ICCV Workshops 2019."),
}
