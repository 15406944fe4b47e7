import copy

import numpy as np
import pytest
import torch
from skimage import data
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio

from lrlib.degrade import low_resolution
from lrlib.studies.dog_sr_sift import (DOG_PSNR_CONVENTIONS, DoGSR, LevelNet, dog_psnr, dog_uint8, dogsr_step,
                                       patch_pool, predict_image, train_dogsr)
from lrlib.sift import dog_stack, gaussian_stack
from lrlib.sr import SqueezeExcitation, upsample


def grey_photos() -> list[torch.Tensor]:
    """Real grey photos (1, H, W) uint8 of unequal sizes, none a multiple of 4."""
    camera = data.camera()[100:231, 150:290]
    coins = data.coins()[50:149, 60:182]
    astronaut = (rgb2gray(data.astronaut())[30:141, 180:303] * 255).round().astype(np.uint8)
    return [torch.from_numpy(np.ascontiguousarray(a))[None] for a in (camera, coins, astronaut)]


def lr_batch(scale: int, size: int = 40) -> torch.Tensor:
    """Two LR crops (2, 1, size, size) of real photos."""
    hr = torch.stack([p[:, :size * scale, :size * scale] for p in grey_photos()[:2]]).float() / 255
    return low_resolution(hr, scale, keep_size=False)


def small(method: int, scale: int, cascade: bool = True) -> DoGSR:
    return DoGSR(method, scale, blocks=(1,) * (3 + method), cascade=cascade, width=16)


@pytest.mark.parametrize("method", [1, 2])
@pytest.mark.parametrize("scale", [2, 4])
def test_shapes(method, scale):
    lr = torch.rand(2, 1, 20, 24)
    model = small(method, scale)
    big = (20 * scale, 24 * scale)
    assert model(lr).shape == (2, 3 + method, *big)
    assert model.predict_dog(lr).shape == (2, 4, *big)
    assert model.predict_gaussians(lr).shape == (2, 5, *big)
    assert LevelNet(1, scale, 16)(lr).shape == (2, 1, *big)


def test_paper_sizes_and_validation():
    assert [len(net.body) - 1 for net in DoGSR(1, 2, cascade=True).nets] == [16, 12, 10, 8]
    assert [len(net.body) - 1 for net in DoGSR(2, 2, cascade=False).nets] == [16, 12, 10, 8, 6]
    with pytest.raises(ValueError, match="method must be 1"):
        DoGSR(3, 2, cascade=True)
    with pytest.raises(ValueError, match="scale must be 2 or 4"):
        DoGSR(1, 3, cascade=True)
    with pytest.raises(ValueError, match="4 for method 1"):
        DoGSR(1, 2, blocks=(16, 12, 10, 8, 6), cascade=True)
    with pytest.raises(ValueError, match="5 for method 2"):
        DoGSR(2, 2, blocks=(16, 12, 10, 8), cascade=True)
    with pytest.raises(ValueError, match="cascade"):
        DoGSR(2, 2, cascade=None)
    with pytest.raises(ValueError, match="blocks must be an int >= 1"):
        LevelNet(0, 2)
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(8, reduction=16)
    with pytest.raises(ValueError, match=r"\(N, 1, h, w\)"):
        small(2, 2)(torch.rand(2, 3, 8, 8))


def test_squeeze_excitation_scales_channels_by_a_gate_in_0_1():
    se = SqueezeExcitation(32, reduction=16)
    x = torch.rand(2, 32, 6, 6) + 0.1
    ratio = se(x) / x
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio))  # one factor per image and channel
    assert (ratio > 0).all() and (ratio < 1).all()


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("cascade", [True, False])
def test_method1_is_residual_on_the_bicubic_dog(scale, cascade):
    lr = lr_batch(scale, 24)
    model = small(1, scale, cascade)
    predictor = dog_stack(upsample(lr, scale), cascade=cascade)
    assert torch.equal(model(lr), predictor)  # output layers start at zero: untrained = bicubic
    for net in model.nets:
        torch.nn.init.normal_(net.up.weight, std=0.01)
    with torch.no_grad():
        residuals = torch.cat([net(lr) for net in model.nets], dim=1)
        out = model(lr)
    assert residuals.abs().amax() > 1e-3
    torch.testing.assert_close(out - residuals, predictor, rtol=0, atol=1e-6)


def test_gaussians_and_dogs_agree():
    lr = lr_batch(2, 24)
    for method in (1, 2):
        model = small(method, 2)
        if method == 1:
            for net in model.nets:
                torch.nn.init.normal_(net.up.weight, std=0.01)
        with torch.no_grad():
            levels, dogs = model.predict_gaussians(lr), model.predict_dog(lr)
        torch.testing.assert_close(levels[:, 1:] - levels[:, :-1], dogs, rtol=0, atol=1e-6)
        if method == 1:  # L_1 is the bicubic image's
            torch.testing.assert_close(levels[:, :1], gaussian_stack(upsample(lr, 2))[:, :1], rtol=0, atol=1e-7)
        else:
            assert torch.equal(levels, model(lr))


@pytest.mark.parametrize("scale", [2, 4])
def test_patch_pool_cuts_whole_photo_stacks(scale):
    photos = grey_photos()
    p, stride = 8, 6
    pool = patch_pool(photos, scale, lr_patch=p, stride=stride, cascade=False)
    start = 0
    for photo in photos:
        h, w = photo.shape[1] // scale, photo.shape[2] // scale
        rows, cols = (h - p) // stride + 1, (w - p) // stride + 1
        hr = photo[None, :, :h * scale, :w * scale].float() / 255
        levels = gaussian_stack(hr, cascade=False)
        lr = low_resolution(hr, scale, keep_size=False)
        for r, c in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols - 2)]:
            i = start + r * cols + c
            y, x = r * stride, c * stride
            big = np.s_[scale * y:scale * (y + p), scale * x:scale * (x + p)]
            assert torch.equal(pool.lr[i, 0], lr[0, 0, y:y + p, x:x + p])
            assert torch.equal(pool.levels[i], levels[0][:, big[0], big[1]])
            assert torch.equal(pool.hr[i, 0], hr[0, 0][big])
        start += rows * cols
    assert len(pool) == start
    assert pool.lr.shape == (start, 1, p, p) and pool.lr.dtype == torch.float32
    assert pool.levels.shape == (start, 5, scale * p, scale * p) and pool.hr.shape == (start, 1, scale * p, scale * p)
    assert (pool.scale, pool.cascade) == (scale, False)


def test_patch_pool_validation():
    photo = grey_photos()[0]
    with pytest.raises(ValueError, match="images\\[0\\] must be a grey uint8"):
        patch_pool([photo.float()], 2, cascade=True)
    with pytest.raises(ValueError, match="smaller than lr_patch=100"):
        patch_pool([photo], 2, lr_patch=100, cascade=True)
    with pytest.raises(ValueError, match="scale must be 2 or 4"):
        patch_pool([photo], 3, cascade=True)


@pytest.mark.parametrize("method", [1, 2])
def test_training_lowers_the_loss_on_real_photos(method):
    torch.manual_seed(0)
    pool = patch_pool(grey_photos(), 2, lr_patch=12, cascade=True)
    model = small(method, 2)
    losses = train_dogsr(model, pool, steps=40, batch_size=8, learning_rate=1e-3, progress=False)
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    with pytest.raises(ValueError, match="does not match"):
        train_dogsr(small(method, 2, cascade=False), pool, steps=1, progress=False)


@pytest.mark.parametrize("method", [1, 2])
def test_the_plain_step_ends_where_train_dogsr_ends(method):
    """dogsr_step, looped over train_dogsr's batches with Adam and its cosine schedule, ends at its weights."""
    pool = patch_pool(grey_photos(), 2, lr_patch=12, cascade=True)
    torch.manual_seed(0)
    fast = small(method, 2)
    plain = copy.deepcopy(fast)
    losses = train_dogsr(fast, pool, steps=5, batch_size=4, learning_rate=1e-3, seed=7, progress=False)
    opt = torch.optim.Adam(plain.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 5)
    gen = torch.Generator().manual_seed(7)
    mine = []
    for _ in range(5):
        idx = torch.randint(0, len(pool), (4,), generator=gen)
        mine.append(float(dogsr_step(plain, opt, pool.lr[idx], pool.levels[idx]).detach()))
        sched.step()
    assert losses == pytest.approx(mine, rel=1e-6)
    for a, b in zip(fast.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b)


def test_predict_image_single_and_batch():
    model = small(2, 2)
    lr = lr_batch(2, 20)
    levels, dogs = predict_image(model, lr[0])
    assert levels.shape == (5, 40, 40) and dogs.shape == (4, 40, 40)
    torch.testing.assert_close(levels, model.predict_gaussians(lr[:1])[0])
    torch.testing.assert_close(dogs, levels.diff(dim=0))
    batch_levels, batch_dogs = predict_image(model, lr)
    assert batch_levels.shape == (2, 5, 40, 40) and batch_dogs.shape == (2, 4, 40, 40)
    with pytest.raises(ValueError, match="lr"):
        predict_image(model, lr[0, 0])


def reference_psnr(pred: np.ndarray, target: np.ndarray, convention: str) -> float:
    """skimage's PSNR, image by image, with the convention's data_range."""
    values = []
    for p, t in zip(pred.reshape(-1, *pred.shape[-2:]), target.reshape(-1, *target.shape[-2:])):
        data_range = {"raw": 1.0, "range": t.max() - t.min(), "absmax": 2 * np.abs(t).max(),
                      "uint8-clipped": 255}[convention]
        values.append(peak_signal_noise_ratio(t, p, data_range=data_range))
    return float(np.mean(values))


@pytest.mark.parametrize("convention", sorted(DOG_PSNR_CONVENTIONS))
def test_dog_psnr_against_skimage(convention):
    import cv2

    hr = torch.stack([p[:, :96, :96] for p in grey_photos()]).float() / 255  # (3, 1, 96, 96)
    bicubic = upsample(low_resolution(hr, 2, keep_size=False), 2)
    pred_levels, target_levels = gaussian_stack(bicubic), gaussian_stack(hr)
    shave = 2
    inner = np.s_[..., shave:-shave, shave:-shave]
    if convention == "uint8-clipped":
        pred, target = dog_uint8(pred_levels), dog_uint8(target_levels)
        stored = [np.clip(np.rint(s.numpy() * 255), 0, 255).astype(np.uint8) for s in (pred_levels, target_levels)]
        ref = [np.stack([[cv2.subtract(img[k + 1], img[k]) for k in range(4)] for img in s]) for s in stored]
        assert np.array_equal(pred.numpy(), ref[0]) and np.array_equal(target.numpy(), ref[1])
        expected = reference_psnr(ref[0][inner], ref[1][inner], convention)
    else:
        pred, target = dog_stack(bicubic), dog_stack(hr)
        expected = reference_psnr(pred.double().numpy()[inner], target.double().numpy()[inner], convention)
    assert dog_psnr(pred, target, convention, shave=shave) == pytest.approx(expected, abs=1e-9)


def test_dog_psnr_validation():
    d = torch.rand(2, 4, 16, 16)
    with pytest.raises(ValueError, match="'psnr'"):
        dog_psnr(d, d, "psnr")
    with pytest.raises(ValueError, match="dog_uint8"):
        dog_psnr(d, d, "uint8-clipped")
    with pytest.raises(ValueError, match="same shape"):
        dog_psnr(d, d[:1], "raw")
    with pytest.raises(ValueError, match="shave=8"):
        dog_psnr(d, d, "raw", shave=8)
    with pytest.raises(ValueError, match="flat"):
        dog_psnr(d, torch.zeros_like(d), "range")
    assert dog_psnr(d, d, "raw") == float("inf")
