import math

import numpy as np
import pytest
import torch

from lrlib import backbones
from lrlib.backbones import extract, features, load_backbone, preprocess


@pytest.mark.parametrize("name,dim", [("vgg16", 4096), ("resnet18", 512), ("resnet101", 2048),
                                      ("efficientnet_lite0", 1280)])
def test_taps_have_the_documented_dimension(name, dim):
    b = load_backbone(name, pretrained=False)
    assert (b.tap, b.dim) == backbones.BACKBONES[name]
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    assert extract(b, x, size=64, progress=False).shape == (2, dim)


def test_vgg16_fc7_is_after_relu():
    b = load_backbone("vgg16", pretrained=False)
    f = extract(b, torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8), size=64, progress=False)
    assert (f >= 0).all() and (f == 0).any()


def test_preprocess_normalises_and_degrades():
    white = torch.full((1, 3, 16, 16), 255, dtype=torch.uint8)
    x = preprocess(white, size=16)
    expected = (1 - torch.tensor(backbones.IMAGENET_MEAN)) / torch.tensor(backbones.IMAGENET_STD)
    torch.testing.assert_close(x[0, :, 0, 0], expected)
    assert x.is_contiguous(memory_format=torch.channels_last)
    noise = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    assert not torch.allclose(preprocess(noise, factor=4, size=32), preprocess(noise, size=32))


def test_unknown_backbone():
    with pytest.raises(ValueError, match="'alexnet'"):
        load_backbone("alexnet")


def test_pretrained_efficientnet_sees_a_real_photo():
    # The offline ImageNet weights: the coffee photo should land among coffee-related classes
    # (967 espresso, 968 cup, 504 coffee mug), and the feature must be stable under degradation at 1/4.
    from skimage import data

    b = load_backbone("efficientnet_lite0")
    img = torch.from_numpy(np.ascontiguousarray(data.coffee())).permute(2, 0, 1)[None]
    with torch.inference_mode():
        logits = b.net.net(preprocess(img))
    assert set(logits.topk(5).indices[0].tolist()) & {967, 968, 504}
    f1, f2, f8 = (extract(b, img, factor=k, progress=False) for k in (1, 2, 8))
    cos = torch.nn.functional.cosine_similarity
    assert cos(f1, f2) > cos(f1, f8)


def test_feature_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LRLIB_CACHE", str(tmp_path))
    b = load_backbone("efficientnet_lite0")
    x = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    first = features(b, x, dataset="unit/test", factor=2, size=64, progress=False)
    files = list((tmp_path / "features").glob("*.pt"))
    assert len(files) == 1 and "unit_test" in files[0].name
    monkeypatch.setattr(backbones, "extract", lambda *a, **k: pytest.fail("cache not used"))
    torch.testing.assert_close(features(b, x, dataset="unit/test", factor=2, size=64, progress=False), first)


def test_offline_torchvision_weights_give_a_clear_error(monkeypatch):
    import urllib.error

    import torchvision.models as tvm

    def offline(**kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tvm, "vgg16", offline)
    with pytest.raises(RuntimeError, match=r"'vgg16'.*checkpoints.*efficientnet_lite0"):
        load_backbone("vgg16")


# --- bad input: a clear ValueError, never silently wrong features ------------------------------------------


@pytest.mark.parametrize("images,message", [
    (torch.rand(1, 3, 16, 16) * 255, "divide by 255"),                       # 0..255 floats, a forgotten / 255
    (torch.randint(0, 256, (1, 3, 16, 16)), "int64"),                        # int64 would not be divided by 255
    (torch.rand(1, 1, 16, 16), "C = 3"),                                     # grey, broadcast to 3 channels
    (torch.full((1, 3, 16, 16), math.nan), "NaN"),
    (torch.rand(3, 16, 16), r"\(N, C, H, W\)"),
])
def test_preprocess_and_extract_refuse_what_would_give_wrong_features(images, message):
    with pytest.raises(ValueError, match=message):
        preprocess(images, size=16)
    with pytest.raises(ValueError, match=message):
        extract(load_backbone("resnet18", pretrained=False), images, size=16, progress=False)


def test_a_changed_degradation_never_serves_cached_features(tmp_path, monkeypatch):
    """The cache key holds DEGRADE_VERSION: after a change to low_resolution is marked by bumping it, the LR
    features are extracted again instead of read from the old file."""
    monkeypatch.setenv("LRLIB_CACHE", str(tmp_path))
    b = load_backbone("resnet18", pretrained=False)
    b.pretrained = True  # the cache only serves pretrained backbones; the weights do not matter here
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    calls = []
    real = backbones.extract
    monkeypatch.setattr(backbones, "extract", lambda *a, **k: calls.append(1) or real(*a, **k))
    backbones.features(b, images, dataset="t", factor=2, size=16, progress=False)
    backbones.features(b, images, dataset="t", factor=2, size=16, progress=False)
    assert len(calls) == 1
    monkeypatch.setattr(backbones, "DEGRADE_VERSION", backbones.DEGRADE_VERSION + 1)
    backbones.features(b, images, dataset="t", factor=2, size=16, progress=False)
    assert len(calls) == 2 and len(list((tmp_path / "features").glob("*.pt"))) == 2


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_cpu_runtimes_match_pytorch_float32_on_real_photos(tmp_path, monkeypatch, runtime):
    """A CPU runtime is the same function: every feature of real photos (whole, and degraded by 4) within cosine
    0.999 of PyTorch float32; its conversion is cached, and its features are keyed apart from PyTorch's."""
    from lrlib import data

    monkeypatch.setenv("LRLIB_CACHE", str(tmp_path))
    photos = data.load("samples", size=96).images
    fast = load_backbone("efficientnet_lite0", runtime=runtime)
    reference = load_backbone("efficientnet_lite0", runtime="torch")
    assert reference.fast is None and fast.numerics == f"{runtime}-{fast.fast.precision}"
    assert reference.numerics == "cpu-fp32"
    for factor in (1, 4):
        ours = extract(fast, photos, factor=factor, size=224, batch_size=8, progress=False)
        plain = extract(reference, photos, factor=factor, size=224, progress=False)
        assert torch.nn.functional.cosine_similarity(ours, plain).min() > 0.999
    assert len(list((tmp_path / runtime).iterdir())) >= 1  # converted once, kept
    again = load_backbone("efficientnet_lite0", runtime=runtime)  # read from the cache
    torch.testing.assert_close(extract(again, photos, size=224, batch_size=8, progress=False),
                               extract(fast, photos, size=224, batch_size=8, progress=False))
    features(fast, photos, dataset="s", size=112, progress=False)
    features(reference, photos, dataset="s", size=112, progress=False)
    assert len(list((tmp_path / "features").glob("*.pt"))) == 2  # one file per numeric path


def test_auto_picks_the_cpus_fastest_runtime(monkeypatch):
    from lrlib import device

    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.delenv("LRLIB_CPU_BF16", raising=False)
    assert backbones._cpu_runtime() == "onnxruntime"  # float32: the faster here
    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert backbones._cpu_runtime() == "openvino"  # bf16 where the CPU has it


def test_runtime_is_checked():
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_backbone("efficientnet_lite0", pretrained=False, runtime="onnx")
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="runs on the CPU"):
            load_backbone("efficientnet_lite0", device="cuda", runtime="openvino")
    assert load_backbone("efficientnet_lite0", pretrained=False).fast is None  # random weights: PyTorch
