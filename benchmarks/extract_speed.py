"""Feature-extraction throughput: lrlib's GPU path against a plain PyTorch loop, in one run.

    python benchmarks/extract_speed.py --backbones efficientnet_lite0 vgg16 --out bench.json

* lrlib: the uint8 images already on the GPU, degraded and resized there, bf16 autocast,
  channels-last (``lrlib.backbones.extract``), eager and with ``torch.compile`` (compilation
  happens in the warm-up and is reported apart).
* plain: a ``Dataset`` that resizes each image with PIL to 224x224 and normalises it,
  a ``DataLoader`` with 8 workers, an fp32 model.

Both extract the same images (the CIFAR-10 test set by default) with the same weights,
and the script checks that their features agree. VGG16 runs with random weights when
torchvision's cannot be downloaded: the speed is the same.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from lrlib import data
from lrlib.backbones import IMAGENET_MEAN, IMAGENET_STD, extract, load_backbone
from lrlib.paths import write_atomic
from lrlib.results import provenance


class PilResize(Dataset):
    """The plain way: one image at a time, PIL bicubic resize to 224, ToTensor, Normalize."""

    def __init__(self, images: torch.Tensor):
        self.images = images.permute(0, 2, 3, 1).numpy()
        self.tf = T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC),
                             T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.tf(Image.fromarray(self.images[i]))


@torch.inference_mode()
def plain_loop(net: torch.nn.Module, images: torch.Tensor, batch: int, workers: int) -> torch.Tensor:
    loader = DataLoader(PilResize(images), batch_size=batch, num_workers=workers, pin_memory=True)
    return torch.cat([net(x.cuda(non_blocking=True)).float() for x in loader])


def timed(fn) -> tuple[float, object]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0", "vgg16"])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--limit", type=int, default=None, help="number of images (default: the whole test set)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--out", default=None, help="write the measurements as JSON here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark measures GPU throughput: no CUDA device is visible")
    torch.backends.cudnn.benchmark = True
    cpu_images = data.load(args.dataset, "test", limit=args.limit).images
    gpu_images = cpu_images.cuda()
    rows = []
    for name in args.backbones:
        try:
            backbone = load_backbone(name, device="cuda")
        except RuntimeError:  # torchvision weights need a download
            backbone = load_backbone(name, device="cuda", pretrained=False)
        extract(backbone, gpu_images[: args.batch], progress=False)  # warm-up (cudnn autotuning)
        t_fast, f_fast = timed(lambda: extract(backbone, gpu_images, batch_size=args.batch, progress=False))
        eager_net = backbone.net
        backbone.net = torch.compile(eager_net)
        t_compile, _ = timed(lambda: extract(backbone, gpu_images[: args.batch], progress=False))
        t_comp, f_comp = timed(lambda: extract(backbone, gpu_images, batch_size=args.batch, progress=False))
        net = eager_net.to(memory_format=torch.contiguous_format)
        plain_loop(net, cpu_images[: args.batch], args.batch, args.workers)  # warm-up (workers, cudnn)
        t_plain, f_plain = timed(lambda: plain_loop(net, cpu_images, args.batch, args.workers))
        cos = torch.nn.functional.cosine_similarity(f_fast, f_plain).mean().item()
        n = len(cpu_images)
        cos_comp = torch.nn.functional.cosine_similarity(f_comp, f_fast).mean().item()
        rows.append({"backbone": name, "pretrained": backbone.pretrained, "images": n,
                     "lrlib_img_per_s": n / t_fast, "lrlib_compiled_img_per_s": n / t_comp,
                     "compile_s": t_compile, "plain_img_per_s": n / t_plain,
                     "speedup": t_plain / t_fast, "speedup_compiled": t_plain / t_comp,
                     "feature_cosine_lrlib_vs_plain": cos, "feature_cosine_compiled_vs_eager": cos_comp})
        print(f"{name:>20}: lrlib {n / t_fast:7.0f} img/s (x{t_plain / t_fast:.1f}) | compiled {n / t_comp:7.0f} "
              f"img/s (x{t_plain / t_comp:.1f}, compile {t_compile:.0f} s) | plain {n / t_plain:6.0f} img/s | "
              f"cosine vs plain {cos:.4f}")
    if args.out:
        meta = provenance("benchmark", "cuda", dataset=f"{args.dataset}/test", batch=args.batch,
                          workers=args.workers)
        write_atomic(args.out, json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
