"""The papers' own numbers that the notebooks put beside ours (typed from the paper texts in
``shared/papers``; each constant names its table). Never our results: those come from runs."""

from __future__ import annotations

#: Tan, Yan, Bare, "Feature Super-Resolution", CVPR 2018, Table 1: variance of the HR-LR
#: Euclidean feature distance per down-scaling (area) ratio, VGG16 fc7 on Oxford5K.
FSR_TABLE1_VARIANCE: dict[str, float] = {
    "1/4": 0.0070, "1/9": 0.0103, "1/16": 0.0107, "1/25": 0.0101,
    "1/36": 0.0091, "1/49": 0.0078, "1/64": 0.0068, "Average": 0.0088,
}

#: The same paper's only printed numbers for FSR-GAN itself (Figs. 4-8 are plots without values): the SR-HR
#: feature distance "about 0.62" at 1/64 (Sec. 4.2, Fig. 5) and the abstract's gain over the raw query feature,
#: "increases the retrieval precision by 25%", said "at different image resolutions" (no one ratio) and not saying
#: whether absolute (points / 100) or relative.
FSR_GAN_TEXT: dict[str, float] = {"distance_1/64": 0.62, "map_gain": 0.25}

CITATIONS: dict[str, str] = {
    "fsr": "W. Tan, B. Yan, B. Bare. Feature Super-Resolution: Make Machine See More Clearly. CVPR 2018.",
    "dfd": ("M. Zhu, K. Han, C. Zhang, J. Lin, Y. Wang. Low-Resolution Visual Recognition via Deep Feature "
            "Distillation. ICASSP 2019."),
    "transfer": ("Y. Wu, Z. Zhang, G. Wang. Unsupervised Deep Feature Transfer for Low Resolution "
                 "Image Classification. ICCV Workshops 2019."),
    "dogsr": ("D. F. Noor, Y. Li, Z. Li, S. Bhattacharyya, G. York. Multi-Scale Gradient Image Super-Resolution "
              "for Preserving Key SIFT Points in Low-Resolution Images."),
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

#: Noor et al., "Multi-Scale Gradient Image Super-Resolution for Preserving Key SIFT Points in
#: Low-Resolution Images", Table 2: average power spectrum density (dB) of 100 images per data set,
#: for the image and its DoG levels D1..D4.
DOG_TABLE2_SPECTRUM: dict[str, dict[str, float]] = {
    "CDVS": {"image": 64.47, "D1": 47.52, "D2": 41.39, "D3": 38.66, "D4": 37.10},
    "Oxford": {"image": 63.35, "D1": 48.10, "D2": 42.47, "D3": 39.32, "D4": 37.81},
    "Paris": {"image": 65.32, "D1": 49.90, "D2": 43.42, "D3": 40.18, "D4": 38.55},
}

_DOG_PSNR_COLUMNS = ("method1", "method2", "edsr", "srcnn", "srgan", "bicubic")


def _psnr_rows(rows: dict[tuple[str, int], tuple[float, ...]]) -> dict[tuple[str, int], dict[str, float]]:
    return {key: dict(zip(_DOG_PSNR_COLUMNS, values)) for key, values in rows.items()}


#: The same paper, Tables 3, 4 and 5: PSNR (dB) of the DoG levels D1..D4 at x2 and x4, per method,
#: keyed by (data set, (level, scale)). Tables 4 and 5 head their 5th column "SRGAN" twice; by Table 3
#: the first of the two is SRCNN (see ``shared/papers/README.md``), and that is how it is stored here.
DOG_PSNR: dict[str, dict[tuple[str, int], dict[str, float]]] = {
    "CDVS": _psnr_rows({
        ("D1", 2): (32.60, 33.30, 31.24, 30.6, 30.92, 30.2), ("D1", 4): (30.68, 31.20, 29.15, 28.92, 29.1, 28.65),
        ("D2", 2): (36.95, 37.60, 35.58, 34.98, 35.3, 34.75), ("D2", 4): (34.73, 35.68, 33.53, 33.22, 33.40, 33.05),
        ("D3", 2): (43.80, 44.75, 42.48, 42.05, 42.45, 41.5), ("D3", 4): (39.48, 40.6, 38.15, 37.90, 38.02, 37.68),
        ("D4", 2): (47.65, 48.38, 46.12, 45.81, 45.95, 45.55), ("D4", 4): (45.12, 45.9, 43.60, 43.31, 43.47, 43.15),
    }),
    "Paris": _psnr_rows({
        ("D1", 2): (33.67, 34.15, 32.24, 31.72, 31.95, 31.38), ("D1", 4): (30.97, 31.6, 29.65, 29.41, 29.54, 29.19),
        ("D2", 2): (37.58, 38.24, 36.32, 35.68, 35.96, 35.45), ("D2", 4): (35.18, 36.05, 33.98, 33.62, 33.79, 33.45),
        ("D3", 2): (44.55, 45.10, 43.15, 42.91, 43.06, 42.65), ("D3", 4): (39.91, 41.10, 38.90, 38.47, 38.85, 38.31),
        ("D4", 2): (47.90, 48.76, 46.70, 46.13, 46.46, 45.80), ("D4", 4): (45.55, 46.36, 44.2, 43.83, 43.98, 43.61),
    }),
    "Oxford": _psnr_rows({
        ("D1", 2): (31.9, 32.65, 30.56, 30.12, 30.08, 29.47), ("D1", 4): (30.03, 30.63, 28.70, 28.36, 28.42, 28.25),
        ("D2", 2): (36.61, 37.15, 35.32, 34.79, 34.72, 34.30), ("D2", 4): (33.85, 34.90, 32.76, 32.65, 32.64, 32.55),
        ("D3", 2): (43.05, 44.02, 41.55, 40.98, 41.10, 40.62), ("D3", 4): (39.12, 40.19, 37.80, 37.54, 37.62, 37.31),
        ("D4", 2): (46.93, 47.55, 45.32, 45.03, 45.19, 44.80), ("D4", 4): (44.71, 45.38, 43.22, 42.91, 42.97, 42.61),
    }),
}

_DOG_MATCH_COLUMNS = ("original", "method1", "method2", "edsr", "srcnn", "srgan", "bicubic")

#: The same paper, Tables 6, 7 and 8: average number of SIFT matches per image pair (200 pairs per
#: set), keyed by (data set, scale). "original" is the HR pair itself (the same at x2 and x4).
DOG_MATCHES: dict[tuple[str, int], dict[str, float]] = {key: dict(zip(_DOG_MATCH_COLUMNS, values)) for key, values in {
    ("CDVS buildings", 2): (125.8, 124.5, 130.4, 116.3, 114.5, 115.8, 112.4),
    ("CDVS buildings", 4): (125.8, 110.8, 115.4, 105.6, 104.2, 104.3, 100.4),
    ("CDVS graphics", 2): (101.6, 99.8, 102.8, 94.5, 93.8, 94.2, 92.8),
    ("CDVS graphics", 4): (101.6, 87.2, 90.4, 86.7, 86.1, 85.8, 85.4),
    ("CDVS objects", 2): (115.3, 113.9, 118.5, 106.9, 103.9, 104.8, 102.6),
    ("CDVS objects", 4): (115.3, 105.1, 108.8, 99.1, 98.2, 98.5, 96.2),
    ("CDVS paintings", 2): (114.4, 114.7, 120.5, 105.9, 104.4, 104.9, 100.7),
    ("CDVS paintings", 4): (114.4, 106.1, 109.8, 101.5, 100.1, 100.2, 96.1),
    ("CDVS video", 2): (94.3, 90.3, 94.4, 87.2, 86.2, 85.8, 85.2),
    ("CDVS video", 4): (94.3, 82.2, 85.5, 80.1, 79.4, 79.6, 79.2),
    ("Paris", 2): (110.5, 107.9, 113.2, 101.4, 99.2, 99.8, 99.1),
    ("Paris", 4): (110.5, 99.8, 102.4, 97.1, 95.4, 95.9, 95.3),
    ("Oxford", 2): (105.4, 101.4, 107.3, 97.1, 96.2, 96.4, 94.2),
    ("Oxford", 4): (105.4, 93.2, 97.8, 91.1, 90.4, 90.3, 89.9),
}.items()}

#: The PASCAL VOC2007 classes in the devkit's order (the columns of the feature-transfer paper's Table 1).
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")

#: Wu, Zhang, Wang, "Unsupervised Deep Feature Transfer for Low Resolution Image Classification", ICCV-W 2019,
#: Table 1: per-class AP (%) on the VOC2007 test set; ResNet-101 pool5 features, linear SVMs trained on trainval;
#: LR = the whole image to 32x32, then up to 224x224; "Ours" = transferred LR features (N1 = 4096, N2 = 100).
TRANSFER_TABLE1: dict[str, dict[str, float]] = {row: dict(zip(VOC_CLASSES, values)) for row, values in {
    "Baseline-HR": (97.6, 92.7, 89.2, 85.8, 90.6, 87.5, 96.2, 94.3, 81.4, 83.3, 80.0, 86.9, 84.2, 90.0, 95.4, 95.0,
                    88.3, 71.6, 96.0, 95.9),
    "Baseline-LR": (87.5, 84.8, 77.5, 77.4, 80.4, 76.5, 90.6, 72.1, 75.1, 72.9, 69.5, 65.0, 71.7, 73.9, 92.8, 90.8,
                    78.3, 48.6, 83.3, 92.3),
    "Ours": (89.1, 86.5, 80.1, 78.1, 79.6, 77.4, 92.4, 75.4, 79.4, 73.2, 72.5, 68.5, 74.0, 77.1, 95.0, 91.9, 77.6,
             53.4, 86.1, 92.5),
}.items()}

#: The same paper, Table 1's mAP column (%), as printed.
TRANSFER_MAP: dict[str, float] = {"Baseline-HR": 89.1, "Baseline-LR": 78.1, "Ours": 80.0}

#: The same paper, Table 2: mAP (fraction) on the VOC2007 test set per (N1, N2) of the transfer network. The
#: table's corner names N1, but its rows are N2 (the number of k-means clusters) and its columns N1. The paper chose
#: N1 = 4096, N2 = 100 on this test set; N2 = 20, 100 and 200 tie at 0.800 there.
TRANSFER_TABLE2: dict[tuple[int, int], float] = {(n1, n2): value for n2, values in {
    20: (0.704, 0.741, 0.771, 0.786, 0.800),
    100: (0.718, 0.752, 0.768, 0.789, 0.800),
    200: (0.727, 0.746, 0.771, 0.788, 0.800),
    500: (0.717, 0.743, 0.766, 0.784, 0.795),
    1000: (0.713, 0.743, 0.762, 0.783, 0.793),
    2048: (0.718, 0.739, 0.765, 0.783, 0.794),
}.items() for n1, value in zip((256, 512, 1024, 2048, 4096), values)}
