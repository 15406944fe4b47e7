"""The notebooks' GPU paths in seconds: every test runs on the CPU and, where there is one, on a CUDA
device (bf16 autocast, data and stacks on the GPU), so a GPU session can check them before a long quick run.
On CUDA the results must agree with the CPU's."""

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from test_dog_sr_sift_experiments import _camera

from lrlib import data, sift
from lrlib.degrade import low_resolution_uint8
from lrlib.models import build_model
from lrlib.sr import GRAPH_AFTER, build_sr, fit
from lrlib.studies import distillation, dog_sr_sift
from lrlib.studies.dog_sr_sift import DOG_PSNR_CONVENTIONS
from lrlib.train import TrainConfig, evaluate, train_classifier

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_sift_on_the_device_agrees_with_the_cpu(device):
    image = _camera(128)[0].float() / 255
    on_device = sift.dog_stack(image.to(device), cascade=False)
    assert on_device.device.type == device
    torch.testing.assert_close(on_device.cpu(), sift.dog_stack(image, cascade=False), atol=1e-5, rtol=0)
    (kp_dev, desc_dev), (kp_cpu, _) = sift.sift_features(image.to(device), cascade=False), \
        sift.sift_features(image, cascade=False)
    assert kp_dev.xy.device.type == device and desc_dev.device.type == device
    # float rounding may move an extremum that sits exactly on a threshold, no more
    assert abs(len(kp_dev.xy) - len(kp_cpu.xy)) <= max(2, len(kp_cpu.xy) // 20)


@pytest.mark.parametrize("device", DEVICES)
def test_notebook05_pipeline_runs_on_the_device(device):
    dev = torch.device(device)
    photos = [_camera(96), _camera(80)]
    fit = dict(steps=2, batch_size=2, learning_rate=2e-4, lr_patch=16, blocks1=[1] * 4, blocks2=[1] * 5, edsr_blocks=1,
               width=16)
    models, table = dog_sr_sift.train_models(photos, 2, fit, cascade=False, data_key="camera", device=dev,
                                             progress=False)
    assert set(models) == set(dog_sr_sift.LEARNED) and len(table) == 4
    assert all(next(m.parameters()).device.type == device for m in models.values())
    psnr = dog_sr_sift.psnr_table({"camera": photos[:1]}, [2], {2: models}, cascade=False,
                              conventions=list(DOG_PSNR_CONVENTIONS), device=dev, progress=False)
    assert psnr["psnr"].notna().all() and len(psnr) == 5 * 4 * len(DOG_PSNR_CONVENTIONS)
    pairs = dog_sr_sift.warped_pairs([("camera", _camera(128))], strength=0.08, seed=0)
    matches = dog_sr_sift.match_table(pairs, [2], {2: models}, cascade=False, device=dev, progress=False)
    assert list(matches.method) == list(dog_sr_sift.METHODS)
    assert matches.set_index("method").loc["original", "matches"] > 0
    assert dog_sr_sift.prediction_speed(models["method1"], (16, 16), batch=2, repeats=2, device=dev) > 0


@pytest.mark.parametrize("device", DEVICES)
def test_notebook04_training_runs_on_the_device(device):
    s = data.load("samples", size=32, limit=16, device=device)
    classes = int(s.labels.max()) + 1
    lr = low_resolution_uint8(s.images, 4)
    assert lr.device.type == device and lr.dtype == torch.uint8
    cfg = TrainConfig(epochs=1, batch_size=8, learning_rate=0.02, seed=0)  # bf16 switches itself on with CUDA only
    torch.manual_seed(0)
    teacher = build_model("resnet18", classes).to(device)
    train_classifier(teacher, s.images, s.labels, cfg, progress=False)
    student = build_model("resnet18", classes).to(device)
    history = train_classifier(student, lr, s.labels, cfg, loss=distillation.DistillationLoss(teacher, 2.0),
                               paired=s.images, progress=False)
    assert torch.isfinite(torch.tensor(history.loss)).all()
    assert 0 <= evaluate(student, lr, s.labels) <= 1
    rows = distillation.sr_rows(["espcn"], "alexnet", (s.images, s.labels), (s.images, s.labels), cfg,
                                data=distillation.data_key("samples", s.images, s.images), sr_steps=2, seeds=[0],
                                num_classes=classes)
    assert 0 <= rows["espcn"][0] <= 1


@pytest.mark.parametrize("device", DEVICES)
def test_notebook02_generator_trains_on_the_device(device):
    """FSR-GAN's critic and generator steps (bf16 on CUDA) on GPU-resident feature pairs."""
    from lrlib.studies import fsr_gan

    g = torch.Generator().manual_seed(0)
    hr = torch.nn.functional.normalize(torch.rand(96, 64, generator=g), dim=1).to(device)
    lr = torch.nn.functional.normalize(hr + 0.3 * torch.rand(96, 64, generator=g).to(device), dim=1)
    config = fsr_gan.GanConfig(epochs=1, batch_size=32, critic_steps=2, side=8)
    gen, record = fsr_gan.train_generator(lr[:80], hr[:80], config, held_out=(lr[80:], hr[80:]), progress=False)
    assert next(gen.parameters()).device.type == device
    assert all(torch.isfinite(torch.tensor(v)).all() for v in (record["held_out_distance"], record["critic_loss"]))
    assert fsr_gan.enhance(gen, lr[80:]).shape == (16, 64)


@pytest.mark.parametrize("device", DEVICES)
def test_notebook03_transfer_and_svms_run_on_the_device(device):
    """Pseudo-labels, the batched transfer training and the batched SVMs on GPU-resident features."""
    from lrlib.studies import feature_transfer as ft
    from lrlib.svm import fit_svms, svm_scores

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(60, 16, generator=g).to(device)
    lr = hr + 0.1 * torch.rand(60, 16, generator=g).to(device)
    labels, centres = ft.pseudo_labels(hr, 4, seed=0, lr=lr)
    assert labels.device.type == device and centres.shape == (4, 16)
    nets, accuracy = ft.train_transfers([ft.Transfer(hr, lr, 8, 4)], dict(iterations=5, step=3, batch_size=20,
                                                                          learning_rate=0.05))
    assert len(nets) == 1 and 0 <= accuracy[0] <= 1
    targets = ft.one_vs_rest(torch.arange(60) % 3, 3)
    w = fit_svms([ft.transform(nets[0], lr)], targets, [1.0], max_iter=50)[0]
    assert torch.isfinite(svm_scores(w, ft.transform(nets[0], lr))).all()


def _fit_both_ways(make, batches: list[tuple[torch.Tensor, torch.Tensor]], loss_fn) -> tuple[list, list, tuple]:
    """Train two copies of ``make()`` on the same batches, eagerly and with the step captured as a CUDA graph."""
    eager = make()
    graphed = copy.deepcopy(eager)
    runs = []
    for model, graph in ((eager, False), (graphed, True)):
        it = iter(batches)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a failed capture warns: make it fail the test
            runs.append(fit(model, lambda: next(it), loss_fn, steps=len(batches), learning_rate=1e-3, desc="",
                            progress=False, graph=graph))
    return runs[0], runs[1], (eager, graphed)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("name", ["dogsr method 1", "dogsr method 2", "vdsr"])
def test_graphed_training_repeats_eager_training(name):
    """sr.fit's CUDA graph replays the very step it captured: the same losses, step by step, and the same weights
    as eager training on the same batches; afterwards the model's own forward is back (another shape runs)."""
    torch.manual_seed(0)
    if name.startswith("dogsr"):
        method = int(name[-1])
        make = lambda: dog_sr_sift.DoGSR(method, 2, blocks=[2] * (4 if method == 1 else 5), cascade=False,  # noqa
                                         width=16).cuda()
        channels, targets = 1, 4 if method == 1 else 5
    else:
        make = lambda: build_sr("vdsr", 2, 1).cuda()  # noqa: E731
        channels, targets = 1, 1
    side = 16 if name.startswith("dogsr") else 32  # DoG-SR's input is LR (x2 out), VDSR's the up-sampled image
    batches = [(torch.rand(8, channels, side, side, device="cuda"), torch.rand(8, targets, 32, 32, device="cuda"))
               for _ in range(GRAPH_AFTER + 6)]
    eager_loss, graphed_loss, (eager, graphed) = _fit_both_ways(make, batches, F.mse_loss)
    torch.testing.assert_close(torch.tensor(graphed_loss), torch.tensor(eager_loss), rtol=1e-2, atol=1e-5)
    for a, b in zip(eager.parameters(), graphed.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-2, atol=1e-4)
    assert "forward" not in graphed.__dict__
    with torch.no_grad():
        assert graphed(torch.rand(2, channels, side + 8, side + 8, device="cuda")).shape[0] == 2


def test_cpu_bf16_is_used_only_where_the_cpu_has_bf16_instructions(monkeypatch):
    from lrlib import device

    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    monkeypatch.delenv("LRLIB_CPU_BF16", raising=False)
    assert not device.cpu_has_fast_bf16() and device.numerics("cpu") == "cpu-fp32"
    with device.bf16_autocast("cpu"):
        assert not torch.is_autocast_cpu_enabled()
    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert device.cpu_has_fast_bf16() and device.numerics("cpu") == "cpu-bf16"
    assert device.numerics("cpu", enabled=False) == "cpu-fp32"
    with device.bf16_autocast("cpu"):
        assert torch.is_autocast_cpu_enabled()
    monkeypatch.setenv("LRLIB_CPU_BF16", "0")
    assert not device.cpu_has_fast_bf16()
    assert "cores" in device.describe("cpu")


def test_a_short_bf16_training_lowers_the_loss_as_float32_does(monkeypatch):
    """bf16 on the CPU (forced here, where the CPU may lack the instructions) follows float32: the same photos, seed
    and schedule, and the loss falls alike."""
    from lrlib import device

    s = data.load("samples", size=32)
    losses = {}
    for bf16 in (False, True):
        monkeypatch.setenv("LRLIB_CPU_BF16", "1" if bf16 else "0")
        assert device.uses_bf16("cpu") == bf16
        model = build_model("alexnet", num_classes=int(s.labels.max()) + 1)
        cfg = TrainConfig(epochs=20, batch_size=8, learning_rate=0.05, label_smoothing=0.0, seed=0)
        losses[bf16] = train_classifier(model, s.images, s.labels, cfg, progress=False).loss
    for curve in losses.values():
        assert curve[-1] < 0.8 * curve[0]
    assert abs(losses[True][-1] - losses[False][-1]) < 0.25 * losses[False][0]
