import math

import pytest
import torch
import torch.nn.functional as F

from lrlib import data
from lrlib.models import build_model, count_parameters
from lrlib.checks import TrainingDiverged
from lrlib.train import STD_FLOOR, CrossEntropy, TrainConfig, evaluate, random_crop_flip, to_float, train_classifier


@pytest.mark.parametrize("name,dim,params", [("alexnet", 256, 2_472_266), ("vgg16", 512, 14_724_042),
                                             ("resnet18", 512, 11_173_962)])
def test_models_feature_layer(name, dim, params):
    model = build_model(name).eval()
    logits, f = model(torch.rand(3, 3, 32, 32), features=True)
    assert logits.shape == (3, 10) and f.shape == (3, dim)
    assert count_parameters(model) == params  # the counts documented in lrlib.models
    torch.testing.assert_close(model.head(f), logits)


def test_build_model_errors():
    with pytest.raises(ValueError, match="'lenet'"):
        build_model("lenet")
    with pytest.raises(ValueError, match="num_classes"):
        build_model("resnet18", num_classes=1)


def test_random_crop_flip_is_a_window_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(x, 2, g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x.float(), (2, 2, 2, 2), mode="reflect").to(torch.uint8)
    for i in range(6):  # brute force: some window of the padded image, flipped or not
        windows = [padded[i, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    both = random_crop_flip(torch.cat([x, x], 1), 2, g)  # stacked HR/LR pairs share one view
    assert torch.equal(both[:, :3], both[:, 3:])


def _samples():
    s = data.load("samples", size=32)
    return s.images, s.labels


def test_training_lowers_the_loss_on_real_images():
    images, labels = _samples()
    model = build_model("resnet18", num_classes=int(labels.max()) + 1)
    cfg = TrainConfig(epochs=12, batch_size=8, learning_rate=0.05, label_smoothing=0.0, bf16=False, seed=0)
    hist = train_classifier(model, images, labels, cfg, test=(images, labels), progress=False)
    assert len(hist.loss) == 12 and hist.loss[-1] < 0.8 * hist.loss[0]
    assert hist.images_per_second > 0 and 0 <= hist.test_accuracy[-1] <= 1
    assert not torch.equal(model.mean, torch.zeros(3))  # statistics of the training set were stored


def test_alexnet_feature_is_the_same_in_training_and_evaluation_mode():
    """Its dropout acts on the head's input, never on the feature that distillation matches."""
    model = build_model("alexnet").train()
    x = torch.rand(4, 3, 32, 32)
    torch.manual_seed(0)
    _, f_train = model(x, features=True)
    _, f_eval = model.eval()(x, features=True)
    torch.testing.assert_close(f_train, f_eval)


def test_the_loss_and_the_paired_images_come_from_the_caller():
    images, labels = _samples()
    partners = 255 - images  # a paired set that differs from the images everywhere
    seen = []

    def loss(net, x, y, x_paired):
        seen.append((x.detach().clone(), x_paired.detach().clone()))
        return CrossEntropy()(net, x, y)

    cfg = TrainConfig(epochs=1, batch_size=8, learning_rate=0.01, bf16=False)
    train_classifier(build_model("alexnet", int(labels.max()) + 1), images, labels, cfg, loss=loss, paired=partners,
                     progress=False)
    assert len(seen) == len(images) // 8
    for x, x_paired in seen:  # each partner saw the very same crop and flip as its image
        torch.testing.assert_close(x_paired, 1 - x, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="paired"):
        train_classifier(build_model("alexnet", 10), images, labels, cfg, paired=partners[:3])
    with pytest.raises(ValueError, match="batch_size 512 is larger than the"):
        train_classifier(build_model("alexnet", 10), images[:8], labels[:8], TrainConfig(epochs=1), progress=False)


# --- bad input: a clear ValueError before any work, never a wrong answer or an error from deep inside torch ---


def _tiny(n=8, classes=2):
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8)
    return build_model("resnet18", classes), images, torch.arange(n) % classes


def test_training_refuses_labels_beyond_the_models_classes():
    model, images, labels = _tiny()
    with pytest.raises(ValueError, match=r"num_classes=3"):
        train_classifier(model, images, labels * 2, TrainConfig(epochs=1, batch_size=4), progress=False)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        evaluate(model, images, labels - 1)


def test_training_and_evaluation_refuse_float_images():
    model, images, labels = _tiny()
    with pytest.raises(ValueError, match="uint8"):
        train_classifier(model, images.float() / 255, labels, TrainConfig(epochs=1, batch_size=4), progress=False)
    with pytest.raises(ValueError, match="uint8"):
        evaluate(model, images.float() / 255, labels)
    with pytest.raises(ValueError, match="uint8"):
        to_float(images.float())


def test_training_refuses_labels_and_images_that_do_not_fit():
    model, images, labels = _tiny()
    cfg = TrainConfig(epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="integer tensor"):
        train_classifier(model, images, labels.float(), cfg, progress=False)
    with pytest.raises(ValueError, match="pair up"):
        train_classifier(model, images[:0], labels[:0], cfg, progress=False)
    with pytest.raises(ValueError, match=r"C = 3"):
        train_classifier(model, images[:, :1], labels, cfg, progress=False)
    with pytest.raises(ValueError, match="test labels"):
        train_classifier(model, images, labels, cfg, test=(images, labels + 5), progress=False)
    with pytest.raises(ValueError, match="pad"):
        train_classifier(model, images[..., :4, :4], labels, cfg, progress=False)


@pytest.mark.parametrize("field,value", [("batch_size", 0), ("epochs", 0), ("learning_rate", -0.1),
                                         ("schedule", "cosine"), ("label_smoothing", 1.0), ("pad", -1)])
def test_train_config_refuses_bad_settings(field, value):
    with pytest.raises(ValueError, match=field if field != "schedule" else "onecycle"):
        TrainConfig(**{field: value})


def test_random_crop_flip_refuses_a_pad_as_large_as_the_image():
    with pytest.raises(ValueError, match="pad"):
        random_crop_flip(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), 4)


def test_classifier_refuses_uint8_or_unbatched_input():
    model = build_model("resnet18").eval()
    with pytest.raises(ValueError, match=r"x\.float\(\) / 255"):
        model(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        model(torch.rand(3, 32, 32))
    with pytest.raises(TypeError, match="Module"):
        count_parameters("resnet18")


def test_a_config_changed_after_construction_is_checked_again():
    model, images, labels = _tiny()
    cfg = TrainConfig(epochs=1, batch_size=4)
    cfg.batch_size = 0  # would divide by zero deep inside
    with pytest.raises(ValueError, match="batch_size"):
        train_classifier(model, images, labels, cfg, progress=False)


def test_a_training_that_diverges_stops_naming_the_step_and_the_setting():
    images, labels = _samples()
    cfg = TrainConfig(epochs=3, batch_size=8, learning_rate=1e4, bf16=False)
    with pytest.raises(TrainingDiverged, match=r"step \d+ is nan; lower config.learning_rate \(now 10000\)"):
        train_classifier(build_model("alexnet", int(labels.max()) + 1), images, labels, cfg, progress=False)
    calls = []

    def loss(net, x, y, x_paired):  # NaN at the 7th step: 40 images, batch 8 -> the 2nd step of epoch 2
        calls.append(1)
        return CrossEntropy()(net, x, y) * (float("nan") if len(calls) == 7 else 1.0)

    cfg = TrainConfig(epochs=3, batch_size=8, learning_rate=0.01, bf16=False)
    with pytest.raises(TrainingDiverged, match=r"step 7 is nan"):
        train_classifier(build_model("alexnet", int(labels.max()) + 1), images, labels, cfg, loss=loss,
                         progress=False)
    assert len(calls) == 10  # checked at the end of the epoch, never later


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_train_config_refuses_a_weight_decay_that_is_not_finite(bad):
    with pytest.raises(ValueError, match="weight_decay must be a finite number"):
        TrainConfig(weight_decay=bad)


def test_a_channel_constant_over_the_training_set_is_not_divided_by_zero():
    images, labels = _samples()
    images = images.clone()
    images[:, 2] = 128  # e.g. a blue channel that a data set never uses
    model = build_model("alexnet", int(labels.max()) + 1)
    cfg = TrainConfig(epochs=1, batch_size=8, learning_rate=0.01, bf16=False)
    history = train_classifier(model, images, labels, cfg, progress=False)
    assert model.std[2] == pytest.approx(STD_FLOOR)
    assert model.std[0] == pytest.approx(float(images[:, 0].float().div(255).std()))  # other channels as before
    assert all(math.isfinite(v) for v in history.loss)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_trainings_of_a_few_steps_follow_the_one_cycle_schedule(steps):
    """Exactly four steps used to divide by zero inside OneCycleLR (its warm-up was 4 * 0.25 - 1 = 0 steps)."""
    images, labels = _samples()
    cfg = TrainConfig(epochs=steps, batch_size=40, learning_rate=0.01, bf16=False)
    history = train_classifier(build_model("alexnet", int(labels.max()) + 1), images, labels, cfg, progress=False)
    assert len(history.loss) == steps and all(math.isfinite(v) for v in history.loss)


@pytest.mark.parametrize("name, side", [("alexnet", 8), ("alexnet", 64), ("vgg16", 16), ("vgg16", 64)])
def test_images_of_a_size_the_network_cannot_take_are_named(name, side):
    model = build_model(name).eval()
    with pytest.raises(ValueError, match=rf"takes images of \d+ to \d+ pixels a side.*got {side}x{side}.*resnet18"):
        model(torch.rand(2, 3, side, side))
    low, high = model.sides
    for ok in (low, high):  # the limits themselves work, and give the documented feature width
        assert model(torch.rand(1, 3, ok, ok), features=True)[1].shape == (1, model.dim)
    assert build_model("resnet18").eval()(torch.rand(1, 3, 8, 8)).shape == (1, 10)
