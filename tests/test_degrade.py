import pytest
import torch
import torch.nn.functional as F

from lrlib.degrade import effective_ratio, factor_of_ratio, low_resolution, ratio_label


def test_shapes_range_and_device():
    x = torch.rand(2, 3, 32, 32)
    y = low_resolution(x, 4)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert 0 <= y.min() and y.max() <= 1
    assert low_resolution(x, 4, keep_size=False).shape == (2, 3, 8, 8)
    assert low_resolution(x, 7, keep_size=False).shape == (2, 3, 4, 4)  # 32 // 7 == 4


def test_matches_an_independent_two_step_resize():
    x = torch.rand(3, 3, 40, 24)
    small = F.interpolate(x, size=(10, 6), mode="bicubic", antialias=True, align_corners=False)
    big = F.interpolate(small, size=(40, 24), mode="bicubic", align_corners=False).clamp(0, 1)
    torch.testing.assert_close(low_resolution(x, 4), big)
    torch.testing.assert_close(low_resolution(x, 4, keep_size=False), small.clamp(0, 1))


def test_factor_one_is_identity_and_information_drops_with_factor():
    x = torch.rand(4, 3, 64, 64)
    torch.testing.assert_close(low_resolution(x, 1), x)
    errors = [float((low_resolution(x, f) - x).abs().mean()) for f in (2, 4, 8)]
    assert errors == sorted(errors) and errors[0] > 0


def test_constant_image_is_unchanged():
    x = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(low_resolution(x, 4), x)


@pytest.mark.parametrize("factor", [0, -2, 2.0, "4", True])
def test_bad_factor(factor):
    with pytest.raises(ValueError, match=repr(factor) if not isinstance(factor, int) or isinstance(factor, bool) else str(factor)):
        low_resolution(torch.rand(1, 3, 8, 8), factor)


def test_bad_images():
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        low_resolution(torch.rand(3, 8, 8), 2)
    with pytest.raises(ValueError, match="uint8"):
        low_resolution(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 2)
    with pytest.raises(ValueError, match="smaller than the factor 9"):
        low_resolution(torch.rand(1, 3, 8, 8), 9)
    with pytest.raises(ValueError, match="ndarray"):
        low_resolution(torch.rand(1, 3, 8, 8).numpy(), 2)


def test_ratio_vocabulary():
    assert factor_of_ratio("1/16") == 4 and factor_of_ratio(1 / 49) == 7
    assert ratio_label(8) == "1/64"
    assert effective_ratio(32, 7) == effective_ratio(32, 8) == 1 / 64
    with pytest.raises(ValueError, match="1/10"):
        factor_of_ratio("1/10")
    with pytest.raises(ValueError):
        factor_of_ratio("half")


def test_low_resolution_uint8_matches_the_float_path():
    from lrlib.degrade import low_resolution_uint8

    x = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    out = low_resolution_uint8(x, 2, batch_size=2)
    expected = (low_resolution(x.float() / 255, 2) * 255).round().to(torch.uint8)
    assert out.dtype == torch.uint8 and torch.equal(out, expected)
    with pytest.raises(ValueError, match="uint8"):
        low_resolution_uint8(x.float(), 2)


def test_scale_mistakes_are_named_not_passed_through():
    """A forgotten / 255 used to come back all white, and one NaN pixel spread over a third of the image."""
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide by 255"):
        low_resolution(x * 255, 2)
    nan = x.clone()
    nan[0, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        low_resolution(nan, 2)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]; got values in \[-0.4"):
        low_resolution(x - 0.5, 2)
    low_resolution(x * (1 + 5e-4), 2)  # bicubic overshoot of a previous step stays within the tolerance


def test_low_resolution_uint8_at_the_small_size():
    from lrlib.degrade import low_resolution_uint8

    x = torch.randint(0, 256, (3, 3, 12, 12), dtype=torch.uint8)
    small = low_resolution_uint8(x, 4, keep_size=False, batch_size=2)
    expected = (low_resolution(x.float() / 255, 4, keep_size=False) * 255).round().to(torch.uint8)
    assert small.shape == (3, 3, 3, 3) and torch.equal(small, expected)
    with pytest.raises(ValueError, match="uint8"):
        low_resolution_uint8(x.float(), 4)
    with pytest.raises(ValueError, match="empty"):
        low_resolution_uint8(x[:0], 4)


@pytest.mark.parametrize("bad", ["1/0", "0/0", float("nan"), "nan", float("inf"), "inf", True])
def test_ratio_helpers_refuse_division_by_zero_and_numbers_that_are_not_finite(bad):
    with pytest.raises(ValueError, match=r"ratio"):
        factor_of_ratio(bad)


def test_low_resolution_uint8_refuses_a_batch_size_of_zero():
    from lrlib.degrade import low_resolution_uint8
    with pytest.raises(ValueError, match="batch_size must be an int >= 1; got 0"):
        low_resolution_uint8(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 2, batch_size=0)
