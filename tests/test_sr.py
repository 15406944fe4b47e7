import pytest
import torch

from lrlib import data
from lrlib.degrade import low_resolution
from lrlib.metrics import psnr
from lrlib.sr import build_sr, super_resolve, train_sr, upsample


@pytest.mark.parametrize("name", ["srcnn", "vdsr", "espcn"])
@pytest.mark.parametrize("scale", [2, 4])
def test_shapes(name, scale):
    model = build_sr(name, scale)
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 3, 8 * scale, 8 * scale)


def test_bad_arguments():
    with pytest.raises(ValueError, match="'edsr9'"):
        build_sr("edsr9", 2)
    with pytest.raises(ValueError, match="scale"):
        build_sr("espcn", 1)
    with pytest.raises(ValueError, match="do not pair"):
        train_sr(build_sr("espcn", 2), torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8), steps=1)


def test_training_on_real_photos_approaches_bicubic():
    torch.manual_seed(0)
    hr = data.load("samples", size=32).images.float() / 255
    lr = low_resolution(hr, 2, keep_size=False)
    model = build_sr("vdsr", 2)
    losses = train_sr(model, lr, hr, steps=60, batch_size=8, lr_rate=1e-4, progress=False)
    assert sum(losses[-10:]) < sum(losses[:10])
    sr = super_resolve(model, (lr * 255).round().to(torch.uint8))
    assert sr.dtype == torch.uint8 and sr.shape == (len(hr), 3, 32, 32)
    # VDSR starts from the bicubic image: after a little training it must not be far below it
    assert psnr(sr.float() / 255, hr) > psnr(upsample(lr, 2), hr) - 1.0
