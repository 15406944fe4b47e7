import pytest
import torch

from lrlib import data
from lrlib.checks import LOSS_CHECK_EVERY, TrainingDiverged
from lrlib.degrade import low_resolution
from lrlib.metrics import psnr
from lrlib.models import count_parameters
from lrlib.sr import EDSR, ESPCN, SRCNN, VDSR, build_sr, fit, super_resolve, train_sr, upsample


@pytest.mark.parametrize("name", ["srcnn", "vdsr", "espcn", "edsr"])
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
    losses = train_sr(model, lr, hr, steps=60, batch_size=8, learning_rate=1e-4, progress=False)
    assert sum(losses[-10:]) < sum(losses[:10])
    sr = super_resolve(model, (lr * 255).round().to(torch.uint8))
    assert sr.dtype == torch.uint8 and sr.shape == (len(hr), 3, 32, 32)
    # VDSR starts from the bicubic image: after a little training it must not be far below it
    assert psnr(sr.float() / 255, hr) > psnr(upsample(lr, 2), hr) - 1.0


def test_edsr_baseline_parameter_count():
    def conv(c_in, c_out):  # a 3x3 convolution with bias
        return c_in * c_out * 9 + c_out

    def expected(channels, x2_stages, width=64, blocks=16):
        return (conv(channels, width) + blocks * 2 * conv(width, width) + conv(width, width)
                + x2_stages * conv(width, 4 * width) + conv(width, channels))

    assert count_parameters(build_sr("edsr", 2)) == expected(3, 1)
    assert round(expected(3, 1) / 1e6, 2) == 1.37  # EDSR-baseline's published size, RGB x2
    assert count_parameters(EDSR(4, 1)) == expected(1, 2)
    assert count_parameters(EDSR(2, 1, blocks=4, width=32)) == expected(1, 1, width=32, blocks=4)


@pytest.mark.parametrize("scale", [5, 8])
def test_edsr_rejects_other_scales(scale):
    with pytest.raises(ValueError, match="2, 3 or 4"):
        build_sr("edsr", scale)
    assert EDSR(3, 1, blocks=1, width=8)(torch.rand(1, 1, 5, 6)).shape == (1, 1, 15, 18)


def test_edsr_training_on_real_photos_lowers_the_loss():
    torch.manual_seed(0)
    hr = data.load("samples", size=32).images.float() / 255
    lr = low_resolution(hr, 2, keep_size=False)
    model = EDSR(2, blocks=2, width=16)
    losses = train_sr(model, lr, hr, steps=200, batch_size=8, learning_rate=1e-3, progress=False)
    assert sum(losses[-20:]) < 0.5 * sum(losses[:20])


# --- bad input: a clear ValueError before any work, never a wrong answer or an error from deep inside torch ---


def test_train_sr_refuses_pairs_that_do_not_match():
    model = build_sr("espcn", 2)
    lr = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    with pytest.raises(ValueError, match="same dtype"):  # the float targets would be divided by 255 again
        train_sr(model, lr, torch.rand(4, 3, 16, 16), steps=1)
    with pytest.raises(ValueError, match="do not pair"):  # the heights differ: a scale that does not divide
        train_sr(model, lr.float() / 255, torch.rand(4, 3, 17, 16), steps=1)
    with pytest.raises(ValueError, match="divide by 255"):
        train_sr(model, lr.float(), torch.rand(4, 3, 16, 16) * 255, steps=1)
    with pytest.raises(ValueError, match="steps"):
        train_sr(model, lr, lr.repeat_interleave(2, 2).repeat_interleave(2, 3), steps=0)


def test_super_resolve_refuses_float_or_no_images():
    model = build_sr("espcn", 2)
    with pytest.raises(ValueError, match="uint8"):
        super_resolve(model, torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="no images"):
        super_resolve(model, torch.zeros(0, 3, 8, 8, dtype=torch.uint8))


def test_networks_and_upsample_refuse_bad_scales_and_inputs():
    for cls in (SRCNN, VDSR, ESPCN):
        with pytest.raises(ValueError, match="scale"):
            cls(1.5)
    with pytest.raises(ValueError, match="scale"):
        upsample(torch.rand(1, 3, 4, 4), 0)
    with pytest.raises(ValueError, match=r"x\.float\(\) / 255"):
        upsample(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), 2)


def test_fit_stops_soon_after_a_non_finite_loss_naming_its_step():
    net, calls = torch.nn.Conv2d(1, 1, 3, padding=1), []

    def batch():
        calls.append(1)
        return torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)

    def loss(y, target):  # infinite at the 7th step
        return torch.nn.functional.l1_loss(y, target) * (float("inf") if len(calls) == 7 else 1.0)

    with pytest.raises(TrainingDiverged, match=r"toy diverged: the loss of step 7 is inf; lower learning_rate"):
        fit(net, batch, loss, steps=3 * LOSS_CHECK_EVERY, learning_rate=0.01, desc="toy", progress=False)
    assert len(calls) == LOSS_CHECK_EVERY  # stopped at the first check, not after all the steps


def test_fit_never_returns_weights_that_are_not_finite():
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    net.register_buffer("scale", torch.tensor(float("nan")))  # e.g. a statistic the training broke
    batch = lambda: (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(TrainingDiverged, match=r"weights 'scale' hold NaN"):
        fit(net, batch, torch.nn.functional.l1_loss, steps=2, learning_rate=0.01, desc="toy", progress=False)



@pytest.mark.parametrize("name", ["srcnn", "vdsr", "espcn", "edsr"])
def test_grey_images_into_a_colour_network_are_named(name):
    net = build_sr(name, 2)
    grey_lr = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    grey_hr = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"lr has 1 channel\(s\) but the .* was built for 3: .*channels=1"):
        train_sr(net, grey_lr, grey_hr, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"lr has 1 channel\(s\)"):
        super_resolve(net, grey_lr)
    assert super_resolve(build_sr(name, 2, channels=1), grey_lr).shape == (2, 1, 16, 16)
