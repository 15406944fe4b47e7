"""lrlib's CPU paths against the plain float32 eager loop, in one run, on this machine.

    python benchmarks/cpu_speed.py --out results/bench_cpu.json

* **Extraction** (EfficientNet-Lite0 at 224x224, a batch of 64 CIFAR-10 test images): the network alone, the
  same batch through each path (plain: PyTorch float32 eager, NCHW; PyTorch channels-last; PyTorch under bf16
  autocast; OpenVINO and ONNX Runtime called directly), then the whole pipeline (uint8 images in, features out:
  ``lrlib.backbones.extract`` against the plain preprocessing and network), and how far each path's features are
  from PyTorch float32 (the lowest cosine over real photos).
* **Training** (batch 128 at 32x32 for the classifiers, 16 patches of 32x32 for EDSR x2): the plain step (float32
  eager, NCHW), the step in channels-last, the step under bf16 autocast, and lrlib's own loop
  (``train_classifier`` or ``sr.train_sr``, which pick channels-last and bf16 where they pay, and include their
  augmentation).

bf16 is measured even where this CPU lacks bf16 instructions (``LRLIB_CPU_BF16=1`` forces it), to show what that
lever gives here. Keys holding ratios to the plain loop are named ``*_speedup``. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import torch
import torch.nn.functional as F

from lrlib import data, device, sr
from lrlib.backbones import _preprocess, extract, load_backbone
from lrlib.models import build_model
from lrlib.paths import write_atomic
from lrlib.results import provenance
from lrlib.train import TrainConfig, train_classifier


def rate(fn, items: int, *, seconds: float = 6.0) -> float:
    """Items per second of ``fn()`` (each call does ``items``): one warm-up call, then calls for about ``seconds``."""
    fn()
    start, calls = time.perf_counter(), 0
    while calls < 2 or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return items * calls / (time.perf_counter() - start)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.float(), b.float()).min())


@torch.inference_mode()
def extraction(images: torch.Tensor, photos: torch.Tensor) -> dict:
    """The network-only rates of each path on one batch, the whole pipeline's, and each path's feature agreement."""
    out: dict = {}
    torch_bb = load_backbone("efficientnet_lite0", runtime="torch")
    net = torch_bb.net
    x = _preprocess(images, 1, 224, channels_last=False)
    check = _preprocess(photos, 1, 224, channels_last=False)
    n = len(x)

    net.to(memory_format=torch.contiguous_format)
    reference = net(check)
    out["plain_img_per_s"] = rate(lambda: net(x), n)
    net.to(memory_format=torch.channels_last)
    xc, cc = x.contiguous(memory_format=torch.channels_last), check.contiguous(memory_format=torch.channels_last)
    out["torch_channels_last_img_per_s"] = rate(lambda: net(xc), n)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out["torch_bf16_img_per_s"] = rate(lambda: net(xc), n, seconds=3)
        out["torch_bf16_cosine"] = cosine(net(cc), reference)

    start = time.perf_counter()
    ov_bb = load_backbone("efficientnet_lite0", runtime="openvino")  # converted (or read from the cache) here
    out["openvino_load_s"] = time.perf_counter() - start
    out["openvino_precision"] = ov_bb.fast.precision
    out["openvino_img_per_s"] = rate(lambda: ov_bb.fast(x), n)
    out["openvino_cosine"] = cosine(ov_bb.fast(check), reference)
    import openvino as ov

    core = ov.Core()
    out["openvino_capabilities"] = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if "BF16" in out["openvino_capabilities"]:
        model = ov_bb.fast.model.clone()
        model.reshape(list(x.shape))
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
        out["openvino_bf16_img_per_s"] = rate(lambda: compiled({0: x.numpy()}), n)
    else:
        out["openvino_bf16_img_per_s"] = None  # this CPU has no bf16 instructions: OpenVINO runs float32 only

    import onnxruntime as ort  # called directly: an exported file, a session, the batch

    path = "/tmp/lrlib-bench-efficientnet_lite0.onnx"
    net.to(memory_format=torch.contiguous_format)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x[:1],), path, input_names=["x"], output_names=["f"], dynamic_axes={"x": {0: "n"}},
                          dynamo=False)
    net.to(memory_format=torch.channels_last)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    out["onnxruntime_img_per_s"] = rate(lambda: session.run(None, {"x": x.numpy()}), n)
    out["onnxruntime_cosine"] = cosine(torch.from_numpy(session.run(None, {"x": check.numpy()})[0]), reference)

    # The whole pipeline, uint8 in, features out: the plain way (NCHW preprocessing, the float32 network) and lrlib's.
    net.to(memory_format=torch.contiguous_format)
    out["plain_pipeline_img_per_s"] = rate(lambda: net(_preprocess(images, 1, 224, channels_last=False)), n)
    net.to(memory_format=torch.channels_last)
    lrlib_bb = load_backbone("efficientnet_lite0")  # the CPU's default runtime
    out["lrlib_runtime"] = lrlib_bb.numerics
    out["lrlib_pipeline_img_per_s"] = rate(lambda: extract(lrlib_bb, images, progress=False), n)
    out["lrlib_pipeline_cosine"] = cosine(extract(lrlib_bb, photos, progress=False), reference)
    for key in ("torch_channels_last", "torch_bf16", "openvino", "openvino_bf16", "onnxruntime"):
        if out.get(f"{key}_img_per_s"):
            out[f"{key}_speedup"] = out[f"{key}_img_per_s"] / out["plain_img_per_s"]
    out["extract_speedup"] = out["lrlib_pipeline_img_per_s"] / out["plain_pipeline_img_per_s"]
    return out


def step_rate(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, loss_fn, *, channels_last: bool,
              bf16: bool, seconds: float) -> float:
    """Training samples per second of plain SGD steps of ``model`` on one batch, in the given layout and precision."""
    model = model.train().to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x).float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return rate(step, len(x), seconds=seconds)


def training(images: torch.Tensor, labels: torch.Tensor, seconds: float) -> dict:
    out: dict = {}
    x = images[:128].float() / 255
    y = labels[:128]
    for arch in ("alexnet", "vgg16", "resnet18"):
        torch.manual_seed(0)
        model = build_model(arch)
        row = {"plain_img_per_s": step_rate(model, x, y, F.cross_entropy, channels_last=False, bf16=False,
                                            seconds=seconds),
               "channels_last_img_per_s": step_rate(model, x, y, F.cross_entropy, channels_last=True, bf16=False,
                                                    seconds=seconds),
               "bf16_img_per_s": step_rate(model, x, y, F.cross_entropy, channels_last=True, bf16=True,
                                           seconds=seconds / 2)}
        n = 1024 if arch == "alexnet" else 384  # two epochs of lrlib's loop: its rate is the faster epoch's
        history = train_classifier(build_model(arch), images[:n], labels[:n],
                                   TrainConfig(epochs=2, batch_size=128, learning_rate=0.01), progress=False)
        row["lrlib_img_per_s"] = n // 128 * 128 / min(history.epoch_seconds)
        for key in ("channels_last", "bf16", "lrlib"):
            row[f"{key}_speedup"] = row[f"{key}_img_per_s"] / row["plain_img_per_s"]
        out[arch] = row
        print(arch, {k: round(v, 2) for k, v in row.items()}, flush=True)
    torch.manual_seed(0)
    edsr = sr.build_sr("edsr", 2)
    lr, hr = torch.rand(16, 3, 32, 32), torch.rand(16, 3, 64, 64)
    row = {"plain_patches_per_s": step_rate(edsr, lr, hr, F.l1_loss, channels_last=False, bf16=False, seconds=seconds),
           "channels_last_patches_per_s": step_rate(edsr, lr, hr, F.l1_loss, channels_last=True, bf16=False,
                                                    seconds=seconds),
           "bf16_patches_per_s": step_rate(edsr, lr, hr, F.l1_loss, channels_last=True, bf16=True,
                                           seconds=seconds / 2)}
    start = time.perf_counter()
    sr.train_sr(sr.build_sr("edsr", 2), lr.repeat(4, 1, 1, 1), hr.repeat(4, 1, 1, 1), steps=8, batch_size=16,
                progress=False)
    row["lrlib_patches_per_s"] = 8 * 16 / (time.perf_counter() - start)
    for key in ("channels_last", "bf16", "lrlib"):
        row[f"{key}_speedup"] = row[f"{key}_patches_per_s"] / row["plain_patches_per_s"]
    out["edsr_x2"] = row
    print("edsr_x2", {k: round(v, 2) for k, v in row.items()}, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="timing per training path (default 8)")
    parser.add_argument("--out", default=None, help="JSON file for the numbers (e.g. results/bench_cpu.json)")
    args = parser.parse_args()
    test = data.load("cifar10", "test", limit=1000)
    photos = data.load("b100", "all", size=256)
    report = {"cpu": device.describe("cpu"), "fast_bf16": device.cpu_has_fast_bf16(),
              "threads": torch.get_num_threads()}
    report["extraction"] = extraction(test.images[:64], photos.images[:32])
    print("extraction", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in report["extraction"].items()},
          flush=True)
    os.environ["LRLIB_CPU_BF16"] = os.environ.get("LRLIB_CPU_BF16", "")  # lrlib's loops decide for themselves
    train = data.load("cifar10", "train", limit=1024)
    report["training"] = training(train.images, train.labels, args.seconds)
    if args.out:
        meta = provenance("benchmark", "cpu", dataset="cifar10 (JPEG copy) and b100", backbone="efficientnet_lite0",
                          batch=64)
        write_atomic(args.out, json.dumps({"meta": meta, "results": report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
