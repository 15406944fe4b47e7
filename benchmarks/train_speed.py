"""Training throughput: lrlib's GPU-resident trainer against a plain PyTorch loop, in one run,
and the accuracy a short `quick` schedule reaches with the HR ResNet-18 teacher.

    python benchmarks/train_speed.py --out bench_train.json
    python benchmarks/train_speed.py --no-compile --epochs --out bench_train.json   # speed only, about a minute

* plain: a ``Dataset`` with torchvision CPU transforms (RandomCrop(32, 4), flip, ToTensor,
  Normalize), a ``DataLoader`` with 8 workers, fp32, batch 128, SGD; one epoch timed.
* lrlib: ``lrlib.train.train_classifier`` (uint8 data on the GPU, GPU crop and flip, bf16,
  channels-last, fused SGD, batch 512), eager and with ``torch.compile``; and the same step captured as a
  CUDA graph (``graphed_speed``, an experiment before it enters the trainer).
Both train the same CIFAR-10 ResNet-18 (``lrlib.models``) on the same images. Each speed is also given
as a share of the GPU's bf16 peak (``--peak-tflops``, about 790 measured on an H200), counting
``TRAIN_GFLOP`` per training image (forward and backward, 3 x the forward's 1.11 GFLOP).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from lrlib import data
from lrlib.device import bf16_autocast
from lrlib.models import build_model
from lrlib.paths import write_atomic
from lrlib.results import provenance
from lrlib.train import TrainConfig, evaluate, random_crop_flip, to_float, train_classifier

TRAIN_GFLOP = 3.33
"""Training FLOPs per 32x32 image of the CIFAR ResNet-18 (forward 1.11 GFLOP; backward about twice that)."""


class CpuAugmented(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images.permute(0, 2, 3, 1).numpy(), labels.numpy()
        self.tf = T.Compose([T.RandomCrop(32, padding=4, padding_mode="reflect"), T.RandomHorizontalFlip(),
                             T.ToTensor(), T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.tf(Image.fromarray(self.images[i])), int(self.labels[i])


def plain_epoch(images: torch.Tensor, labels: torch.Tensor, workers: int) -> float:
    """Images per second of one epoch of the plain loop (after a short warm-up)."""
    model = build_model("resnet18").cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(CpuAugmented(images, labels), batch_size=128, shuffle=True, num_workers=workers,
                        pin_memory=True, drop_last=True, persistent_workers=True)
    for epoch in range(2):  # epoch 0 warms up workers and cudnn; epoch 1 is timed
        torch.cuda.synchronize()
        start, seen = time.perf_counter(), 0
        for x, y in loader:
            x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
            loss = F.cross_entropy(model(x), y)  # inputs already normalised: the model's buffers are 0 / 1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def graphed_speed(arch: str, images: torch.Tensor, labels: torch.Tensor, batch: int = 512, steps: int = 200) -> float:
    """Images per second of lrlib's training step (GPU crop and flip, bf16, channels-last, fused SGD) with the
    forward pass, backward pass and optimizer step captured once as a CUDA graph and replayed: the lever for
    networks bound by kernel launches. An experiment here before it enters the trainer: the learning rate is fixed
    inside the graph (a trainer would hand the schedule's value in as a tensor), which does not change the speed."""
    model = build_model(arch).cuda().to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, fused=True)
    static_x = to_float(images[:batch])
    static_y = labels[:batch].clone()

    def step() -> torch.Tensor:
        with bf16_autocast("cuda", cache=False):  # no autocast cache under capture
            loss = F.cross_entropy(model(static_x).float(), static_y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream (cudnn picks its kernels, the optimizer its state)
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)  # so the captured backward writes fresh gradients, replay after replay
    with torch.cuda.graph(graph):
        step()
    gen = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(2):  # a warm-up pass, then the timed one
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            idx = torch.randint(0, len(images), (batch,), device="cuda", generator=gen)
            static_x.copy_(to_float(random_crop_flip(images[idx], 4, gen)))
            static_y.copy_(labels[idx])
            graph.replay()
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="*", default=[10, 20],
                        help="teacher schedules to time (none: speed only)")
    parser.add_argument("--lr", type=float, nargs="+", default=[0.2], help="peak learning rates to try")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="the GPU's measured bf16 peak (H200: 790)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile run (it compiles for a minute)")
    parser.add_argument("--graph-archs", nargs="*", default=["resnet18", "vgg16", "alexnet"],
                        help="networks whose step is also timed as a CUDA graph")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA device")
    torch.backends.cudnn.benchmark = True
    train, test = data.load("cifar10", "train"), data.load("cifar10", "test")
    report: dict = {"plain_img_per_s": plain_epoch(train.images, train.labels, args.workers)}
    share = lambda img_per_s: img_per_s * TRAIN_GFLOP / 1e3 / args.peak_tflops  # noqa: E731
    report["peak_tflops"], report["train_gflop_per_image"] = args.peak_tflops, TRAIN_GFLOP
    report["plain_peak_share"] = share(report["plain_img_per_s"])
    print(f"plain loop: {report['plain_img_per_s']:.0f} img/s ({report['plain_peak_share']:.1%} of bf16 peak)",
          flush=True)
    gpu = (train.images.cuda(), train.labels.cuda())
    steps = len(train.labels) // 512 * 512
    for compiled in (False,) if args.no_compile else (False, True):
        model = build_model("resnet18").cuda()
        hist = train_classifier(model, *gpu, TrainConfig(epochs=4, compile=compiled), progress=False)
        steady = steps / min(hist.epoch_seconds[1:])  # epoch 0 holds cudnn autotuning and compilation
        key = "lrlib_compiled_img_per_s" if compiled else "lrlib_img_per_s"
        report[key] = steady
        report[key.replace("img_per_s", "first_epoch_s")] = hist.epoch_seconds[0]
        report[key.replace("img_per_s", "peak_share")] = share(steady)
        print(f"lrlib {'compiled' if compiled else 'eager'}: {steady:.0f} img/s (first epoch {hist.epoch_seconds[0]:.1f} s) "
              f"x{steady / report['plain_img_per_s']:.1f}, {share(steady):.1%} of bf16 peak", flush=True)
    for arch in args.graph_archs:  # eager against graphed, network by network (notebook 04 trains all three)
        try:
            if arch != "resnet18":
                hist = train_classifier(build_model(arch).cuda(), *gpu, TrainConfig(epochs=3), progress=False)
                report[f"{arch}_eager_img_per_s"] = steps / min(hist.epoch_seconds[1:])
            report[f"{arch}_graphed_img_per_s"] = graphed_speed(arch, *gpu)
            eager = report["lrlib_img_per_s" if arch == "resnet18" else f"{arch}_eager_img_per_s"]
            print(f"{arch}: eager {eager:.0f} img/s, as a CUDA graph {report[f'{arch}_graphed_img_per_s']:.0f} img/s",
                  flush=True)
        except Exception as err:  # an experiment: say why it failed, keep the other numbers
            report[f"{arch}_graphed_error"] = str(err)[:500]
            print(f"{arch}: CUDA graph capture failed: {err}", flush=True)
    report["teacher"] = []
    for epochs in args.epochs:
        for lr in args.lr:
            model = build_model("resnet18").cuda()
            hist = train_classifier(model, *gpu, TrainConfig(epochs=epochs, learning_rate=lr), progress=False)
            acc = evaluate(model, test.images.cuda(), test.labels.cuda())
            acc_tta = evaluate(model, test.images.cuda(), test.labels.cuda(), flip=True)
            report["teacher"].append({"epochs": epochs, "lr": lr, "seconds": hist.seconds, "test_accuracy": acc,
                                      "test_accuracy_flip_tta": acc_tta, "img_per_s": hist.images_per_second})
            print(f"ResNet-18 HR teacher, {epochs} epochs, lr {lr}: {acc:.4f} test accuracy ({acc_tta:.4f} with "
                  f"flip TTA) in {hist.seconds:.1f} s", flush=True)
    if args.out:
        meta = provenance("benchmark", "cuda", dataset="cifar10 (JPEG copy)", model="resnet18")
        write_atomic(args.out, json.dumps({"meta": meta, "results": report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
