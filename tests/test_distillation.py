"""The distillation study of notebook 04 (lrlib.studies.distillation) on small real photos."""

import copy
import json
import warnings
from collections import Counter

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from lrlib import data
from lrlib.degrade import low_resolution_uint8
from lrlib.models import build_model
from lrlib.results import RunCache
from lrlib.studies import distillation
from lrlib.studies.distillation import DistillationLoss, dfd_loss
from lrlib.train import STD_FLOOR, TrainConfig, evaluate, random_crop_flip, to_float, train_classifier


def _samples():
    s = data.load("samples", size=32)
    return s.images, s.labels


def test_dfd_loss_against_a_loop():
    torch.manual_seed(0)
    logits, labels = torch.randn(5, 10), torch.randint(0, 10, (5,))
    fs, ft = torch.randn(5, 8, requires_grad=True), torch.randn(5, 8, requires_grad=True)
    ce = sum(-torch.log_softmax(logits[i], 0)[labels[i]] for i in range(5)) / 5
    sq = sum(((fs[i] - ft[i]) ** 2).sum() for i in range(5)) / 5
    loss = dfd_loss(logits, labels, fs, ft, lam=2.0)
    torch.testing.assert_close(loss, ce + 0.5 * 2.0 * sq)
    loss.backward()
    assert ft.grad is None and fs.grad is not None  # the teacher's features carry no gradient
    torch.testing.assert_close(dfd_loss(logits, labels, fs, ft, lam=0.0), F.cross_entropy(logits, labels))


def test_distillation_loss_refuses_a_negative_weight_and_features_of_another_size():
    teacher = build_model("alexnet")
    for lam in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
            DistillationLoss(teacher, lam)
    x, y = torch.rand(2, 3, 32, 32), torch.randint(0, 10, (2,))
    with pytest.raises(ValueError, match=r"\(2, 256\) vs \(2, 512\)"):
        DistillationLoss(build_model("vgg16"), 1.0)(teacher, x, y, x)


def test_the_plain_student_step_ends_where_the_fast_trainer_ends():
    """The notebook's student_step, looped the way train_classifier loops (same batches, crops and flips, SGD with
    Nesterov and the step schedule), ends at the weights and losses of train_classifier with DistillationLoss."""
    images, labels = _samples()
    hr, lr = images[:16], low_resolution_uint8(images[:16], 4)
    labels = labels[:16]
    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=0.02, schedule="step", bf16=False, seed=3)
    torch.manual_seed(0)
    teacher = build_model("alexnet", num_classes=int(labels.max()) + 1).eval()
    fast, plain = copy.deepcopy(teacher).train(), copy.deepcopy(teacher).train()
    history = train_classifier(fast, lr, labels, cfg, loss=DistillationLoss(teacher, 2.0), paired=hr, progress=False)

    # the same run written out: statistics, layout, optimiser, schedule, batches
    stats = lr.float().div(255)
    plain.mean.copy_(stats.mean(dim=(0, 2, 3)))
    plain.std.copy_(stats.std(dim=(0, 2, 3)).clamp_min(STD_FLOOR))
    plain.to(memory_format=torch.channels_last)
    decay = [p for p in plain.parameters() if p.ndim > 1]
    no_decay = [p for p in plain.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0}],
                          lr=cfg.learning_rate, momentum=cfg.momentum, nesterov=True)
    steps = len(lr) // cfg.batch_size * cfg.epochs
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [steps // 2, steps * 3 // 4], gamma=0.1)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for _ in range(cfg.epochs):
        order = torch.randperm(len(lr), generator=gen)
        for step in range(len(lr) // cfg.batch_size):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            both = random_crop_flip(torch.cat([lr[idx], hr[idx]], dim=1), cfg.pad, gen)
            x_lr, x_hr = to_float(both[:, :3]), to_float(both[:, 3:])
            losses.append(float(distillation.student_step(plain, teacher, opt, x_lr, x_hr, labels[idx], 2.0).detach()))
            sched.step()
    epoch_means = [sum(losses[i:i + 2]) / 2 for i in range(0, len(losses), 2)]
    assert history.loss == pytest.approx(epoch_means, rel=1e-5)
    for (name, a), b in zip(fast.state_dict().items(), plain.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


@pytest.mark.parametrize("arch", ["alexnet", "vgg16", "resnet18"])
def test_a_student_equal_to_its_teacher_has_no_feature_term_in_training_mode(arch):
    """The feature DFD matches is the same in training mode (dropout, batch statistics aside): a student with the
    teacher's weights, shown the same images, pays only cross-entropy. AlexNet's old dropout on the feature
    broke this: in expectation it pulled the student towards half the teacher's feature."""
    torch.manual_seed(0)
    teacher = build_model(arch).eval()
    student = build_model(arch)
    student.load_state_dict(teacher.state_dict())
    student.train()
    for m in student.modules():  # batch norm in training mode uses batch statistics: keep the running ones here
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    x, y = torch.rand(6, 3, 32, 32), torch.randint(0, 10, (6,))
    loss = DistillationLoss(teacher, lam=1.0)(student, x, y, x)
    ce = F.cross_entropy(student(x), y) if arch != "alexnet" else None
    _, f_student = student(x, features=True)
    _, f_teacher = teacher(x, features=True)
    assert (f_student - f_teacher).abs().max() < 1e-5
    if ce is not None:
        torch.testing.assert_close(loss, ce, atol=1e-5, rtol=1e-5)


def test_distillation_runs_and_teacher_stays_frozen():
    images, labels = _samples()
    lr_images = low_resolution_uint8(images, 4)
    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=0.01, bf16=False)
    teacher = build_model("resnet18", num_classes=int(labels.max()) + 1)
    train_classifier(teacher, images, labels, cfg, progress=False)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = build_model("resnet18", num_classes=int(labels.max()) + 1)
    hist = train_classifier(student, lr_images, labels, cfg, loss=DistillationLoss(teacher, 1.0), paired=images,
                            progress=False)
    assert len(hist.loss) == 2
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert 0 <= evaluate(student, lr_images, labels, bf16=False) <= 1
    with pytest.raises(ValueError, match="paired=hr_images"):
        train_classifier(student, lr_images, labels, cfg, loss=DistillationLoss(teacher, 1.0))


def _cell_setup(tmp_path):
    images, labels = _samples()
    lr = low_resolution_uint8(images, 4)
    cfg = TrainConfig(epochs=1, batch_size=8, learning_rate=0.01, bf16=False)
    key = distillation.data_key("samples", images, images)
    cache = RunCache(tmp_path)
    teacher = distillation.train_teacher("alexnet", (images, labels), (images, labels), cfg, data=key,
                                         num_classes=int(labels.max()) + 1, cache=cache)
    kwargs = dict(data=key, factor=4, teacher=teacher, base=cfg, finetune=cfg, seeds=[0, 1], lam=2.0,
                  num_classes=int(labels.max()) + 1)
    return images, labels, lr, cfg, cache, teacher, kwargs


def test_dfd_cell_over_seeds_and_resume(tmp_path, monkeypatch):
    images, labels, lr, cfg, cache, teacher, kwargs = _cell_setup(tmp_path)
    assert 0 <= teacher.accuracy <= 1 and not any(p.requires_grad for p in teacher.model.parameters())
    cell = distillation.dfd_cell("alexnet", (images, labels), (images, labels), lr, lr, init="baseline",
                                 cache=cache, **kwargs)
    assert len(cell["baseline"]) == len(cell["dfd"]) == len(cell["control"]) == 2
    assert cell["dfd_mean"] == pytest.approx(sum(cell["dfd"]) / 2)
    for p in ("p_control", "p_baseline"):
        assert cell[p] is None or 0 <= cell[p] <= 1
    first = cache.ledger()  # the teacher, then baseline, DFD and control for each of 2 seeds
    assert (first["runs"], first["trained"], first["loaded"]) == (7, 7, 0) and first["train_seconds"] > 0
    # a second call, in a new session, finds every run in the cache: no training at all
    monkeypatch.setattr(distillation, "train_classifier", lambda *a, **k: pytest.fail("trained again"))
    reopened = RunCache(tmp_path)
    again = distillation.dfd_cell("alexnet", (images, labels), (images, labels), lr, lr, init="baseline",
                                  cache=reopened, **kwargs)
    assert again["dfd"] == cell["dfd"] and again["baseline"] == cell["baseline"]
    teacher_seconds = json.loads(next(tmp_path.glob("teacher-*.json")).read_text())["seconds"]
    resumed = reopened.ledger()  # the six cell runs, with the training time they took in the first call
    assert (resumed["runs"], resumed["trained"], resumed["loaded"]) == (6, 0, 6)
    assert resumed["train_seconds"] == pytest.approx(first["train_seconds"] - teacher_seconds, abs=0.11)
    with pytest.raises(ValueError, match="'scratch'"):
        distillation.dfd_cell("alexnet", (images, labels), (images, labels), lr, lr, init="scratch", **kwargs)


def test_each_baseline_is_trained_once_for_both_starts(tmp_path):
    images, labels, lr, cfg, cache, teacher, kwargs = _cell_setup(tmp_path)
    distillation.dfd_cell("alexnet", (images, labels), (images, labels), lr, lr, init="teacher", cache=cache,
                          **kwargs)
    trained = cache.ledger()["trained"]
    distillation.dfd_cell("alexnet", (images, labels), (images, labels), lr, lr, init="baseline", cache=cache,
                          **kwargs)
    ledger = cache.ledger()
    # the baseline start needs the baselines' weights: the teacher start kept them, so only DFD and control train
    assert ledger["trained"] - trained == 2 * 2
    assert len(list(tmp_path.glob("baseline-*.json"))) == 2 and len(list(tmp_path.glob("baseline-*.pt"))) == 2


def test_a_changed_input_never_meets_a_stale_cached_result(tmp_path):
    images, labels, lr, cfg, cache, teacher, kwargs = _cell_setup(tmp_path)
    run = lambda **changes: distillation.dfd_cell(  # noqa: E731
        **{"arch": "alexnet", "train": (images, labels), "test": (images, labels), "train_lr": lr, "test_lr": lr,
           "init": "teacher", "cache": cache, **kwargs, "seeds": [0], **changes})
    run()
    before = cache.ledger()["trained"]
    run()
    assert cache.ledger()["trained"] == before  # the same inputs: all from the cache
    other_teacher = distillation.train_teacher("alexnet", (images, labels), (images, labels),
                                               TrainConfig(epochs=2, batch_size=8, learning_rate=0.01, bf16=False),
                                               data=kwargs["data"], num_classes=kwargs["num_classes"], cache=cache)
    changes = {"teacher": other_teacher,                                   # another teacher
               "finetune": TrainConfig(epochs=2, batch_size=8, learning_rate=0.01, bf16=False),  # another schedule
               "data": distillation.data_key("samples-jpeg", images.flip(3), images),  # other data
               "train": (images, labels.roll(1))}                                   # the same images, other labels
    for name, value in changes.items():
        trained = cache.ledger()["trained"]
        run(**{name: value})
        assert cache.ledger()["trained"] > trained, f"a changed {name} was served a cached result"


def test_a_teacher_is_trained_again_for_other_labels_or_another_class_count(tmp_path):
    """The teacher's key holds the labels (not only the images) and the class count: a teacher trained on other
    labels of the same images, or with another head, is never served from the cache."""
    images, labels = _samples()
    cfg, cache = TrainConfig(epochs=1, batch_size=8, learning_rate=0.01, bf16=False), RunCache(tmp_path)
    classes = int(labels.max()) + 1

    def teacher(train_labels, num_classes=classes):
        key = distillation.data_key("samples", images, images)
        return distillation.train_teacher("alexnet", (images, train_labels), (images, labels), cfg, data=key,
                                          num_classes=num_classes, cache=cache)

    teacher(labels)
    for changed in (lambda: teacher(labels.roll(1)), lambda: teacher(labels, classes + 1)):
        before = cache.ledger()["trained"]
        changed()
        assert cache.ledger()["trained"] == before + 1
    assert teacher(labels, classes + 1).model.head.out_features == classes + 1


def test_sr_rows_use_the_given_seeds_and_the_cache(tmp_path):
    images, labels = _samples()
    cfg = TrainConfig(epochs=1, batch_size=8, learning_rate=0.01, bf16=False)
    key = distillation.data_key("samples", images, images)
    cache = RunCache(tmp_path)
    rows = distillation.sr_rows(["espcn"], "alexnet", (images, labels), (images, labels), cfg, data=key,
                                sr_steps=3, seeds=[0, 1], num_classes=int(labels.max()) + 1, cache=cache)
    assert list(rows) == ["espcn"] and len(rows["espcn"]) == 2 and all(0 <= a <= 1 for a in rows["espcn"])
    again = distillation.sr_rows(["espcn"], "alexnet", (images, labels), (images, labels), cfg, data=key,
                                 sr_steps=3, seeds=[0, 1], num_classes=int(labels.max()) + 1, cache=RunCache(tmp_path))
    assert again == rows


def _cell(baseline, dfd, control):
    """A dfd_cell-shaped result from per-seed accuracies, with the p-values from scipy."""
    c = {"baseline": baseline, "dfd": dfd, "control": control}
    for k, v in list(c.items()):
        c[f"{k}_mean"], c[f"{k}_std"] = float(torch.tensor(v).double().mean()), float(torch.tensor(v).double().std())
    c["p_baseline"] = float(stats.ttest_ind(dfd, baseline, equal_var=False).pvalue)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = stats.ttest_rel(dfd, control).pvalue
    c["p_control"] = None if p != p else float(p)
    return c


def test_table1_frame_puts_the_paper_beside_ours_and_never_a_stand_in():
    cell = _cell([0.80, 0.81], [0.82, 0.83], [0.80, 0.82])
    rows = [{"dataset": "cifar10", "arch": "resnet18", "factor": 4, "init": "teacher", "cell": cell},
            {"dataset": "fashion-mnist", "arch": "resnet18", "factor": 2, "init": "teacher", "cell": cell}]
    t = distillation.table1_frame(rows)
    assert list(t["LR size"]) == ["8x8", "16x16"]
    assert t.loc[0, "paper baseline"] == 79.86 and t.loc[0, "paper DFD"] == 81.26
    assert t.loc[0, "DFD - baseline"] == pytest.approx(2.0) and t.loc[0, "DFD - control"] == pytest.approx(1.5)
    assert t.loc[0, "DFD"] == "82.50 ± 0.71"
    assert t.loc[0, "p (paired)"] == pytest.approx(round(stats.ttest_rel([0.82, 0.83], [0.80, 0.82]).pvalue, 4))
    assert t.loc[1, ["paper baseline", "paper DFD"]].isna().all()  # Fashion-MNIST stands in for SVHN: no paper number


def test_findings_follow_the_numbers():
    clear_win = _cell([0.70, 0.71, 0.70], [0.76, 0.77, 0.76], [0.74, 0.75, 0.735])  # DFD beats both beyond noise
    noise = _cell([0.70, 0.72, 0.71], [0.71, 0.70, 0.72], [0.72, 0.71, 0.70])        # same means: within noise
    loss = _cell([0.80, 0.81, 0.80], [0.74, 0.75, 0.74], [0.76, 0.765, 0.77])       # worse beyond noise
    rows = [{"dataset": "cifar10", "arch": "resnet18", "factor": 4, "init": "teacher", "cell": clear_win},
            {"dataset": "cifar10", "arch": "resnet18", "factor": 2, "init": "teacher", "cell": noise},
            {"dataset": "fashion-mnist", "arch": "resnet18", "factor": 4, "init": "teacher", "cell": loss},
            {"dataset": "cifar10", "arch": "resnet18", "factor": 4, "init": "baseline", "cell": noise},
            {"dataset": "cifar10", "arch": "resnet18", "factor": 2, "init": "baseline", "cell": noise}]
    text = distillation.findings(rows, {("cifar10", "resnet18"): 0.9312})
    lines = text.splitlines()
    assert all(line.startswith("- ") for line in lines)
    # the headline, against the control (paired over seeds), counted independently here
    beyond = [r for r in rows if r["cell"]["p_control"] is not None and r["cell"]["p_control"] < 0.05]
    better = sum(r["cell"]["dfd_mean"] > r["cell"]["control_mean"] for r in beyond)
    assert "control" in lines[0] and f"in {better} of 5 cells, worse in {len(beyond) - better}" in lines[0]
    assert "5 cells were tested" in lines[0] and "no correction" in lines[0]
    effect = sum(100 * (r["cell"]["dfd_mean"] - r["cell"]["control_mean"]) for r in rows) / 5
    assert f"mean difference {effect:+.2f} points" in lines[0]
    assert "budgets differ" in lines[1] and "in 1 of 3 cells, worse in 1, within the noise in 1" in lines[1]
    mean_gain = sum(100 * (r["cell"]["dfd_mean"] - r["cell"]["baseline_mean"]) for r in rows[:3]) / 3
    assert f"mean difference {mean_gain:+.2f} points" in lines[1]
    assert "in 0 of 2 cells, worse in 0, within the noise in 2" in lines[2]
    # The paper's gains at ResNet-18 CIFAR-10 are 1.40 (8x8) and 1.29 (16x16): the baseline start's
    # gains (about 0 and 0) lie closer than the teacher's (about 6 and 0).
    assert "from the baseline lie closest" in text
    assert "93.12% against the paper's 93.38%" in text
    with pytest.raises(ValueError, match="at least one"):
        distillation.findings([], {})


def test_welch_and_paired_p_match_scipy_and_are_none_where_undefined():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a constant group must not print scipy's precision warning
        p = distillation._welch_p([0.5, 0.5, 0.5], [0.40, 0.45, 0.50])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference call warns; its value is still right
        expected = stats.ttest_ind([0.5, 0.5, 0.5], [0.40, 0.45, 0.50], equal_var=False).pvalue
    assert p == pytest.approx(expected)
    assert distillation._welch_p([0.7, 0.7], [0.7, 0.7]) is None and distillation._welch_p([0.7], [0.6, 0.5]) is None
    a, b = [0.70, 0.74, 0.71], [0.69, 0.72, 0.71]
    assert distillation._paired_p(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert distillation._paired_p([0.7, 0.8], [0.6, 0.7]) is None  # equal differences: no spread to test
    with pytest.raises(ValueError, match="paired"):
        distillation._paired_p([0.7, 0.8], [0.6])


def test_plan_counts_the_trainings_the_notebook_runs(tmp_path):
    """The notebook's loops, run on tiny data with a run cache: the trainings stored per network are what plan says."""
    images, labels = _samples()
    classes = int(labels.max()) + 1
    settings = dict(starts={"samples": {"alexnet": ["teacher", "baseline"]}}, factors=[4], seeds=[0, 1], lam=2.0,
                    lambdas=[0.1, 2.0], sweep_archs=["alexnet"], sr_networks=["espcn"], sr_steps=2,
                    table2_arch="resnet18", table2_seeds=[0, 1], teacher=dict(epochs=2), base=dict(epochs=1),
                    finetune=dict(epochs=1))
    cfg = {k: TrainConfig(batch_size=8, learning_rate=0.01, bf16=False, **settings[k])
           for k in ("teacher", "base", "finetune")}
    cache, key = RunCache(tmp_path), distillation.data_key("samples", images, images)
    lr = low_resolution_uint8(images, 4)
    teacher = distillation.train_teacher("alexnet", (images, labels), (images, labels), cfg["teacher"], data=key,
                                         num_classes=classes, cache=cache)
    for name, arch, f, init in distillation.cells(settings):
        distillation.dfd_cell(arch, (images, labels), (images, labels), lr, lr, data=key, factor=f, teacher=teacher,
                              base=cfg["base"], finetune=cfg["finetune"], seeds=settings["seeds"], lam=2.0,
                              init=init, num_classes=classes, cache=cache)
    for lam in settings["lambdas"]:  # the sweep: first seed, first start
        distillation.dfd_cell("alexnet", (images, labels), (images, labels), lr, lr, data=key, factor=4,
                              teacher=teacher, base=cfg["base"], finetune=cfg["finetune"], seeds=[0], lam=lam,
                              init="teacher", num_classes=classes, cache=cache)
    distillation.sr_rows(["espcn"], settings["table2_arch"], (images, labels), (images, labels), cfg["base"],
                         data=key, sr_steps=2, seeds=settings["table2_seeds"], num_classes=classes, cache=cache)
    stored = Counter(json.loads(record.read_text())["key"]["arch"] for record in tmp_path.glob("*.json"))
    planned = distillation.plan(settings, {"samples": len(images)})
    assert planned.loc["alexnet", "trainings"] == stored["alexnet"] == 1 + 2 + 2 * 2 * 2 + 1
    assert planned.loc["resnet18", "trainings"] == stored["resnet18"] == 2
    assert planned.loc["alexnet", "epochs"] == 2 + 2 * 1 + 9 * 1
    assert planned.loc["alexnet", "training images (M)"] == pytest.approx(13 * len(images) / 1e6, abs=0.01)
    with pytest.raises(ValueError, match=r"starts\['samples'\]\['alexnet'\]"):
        distillation.cells({**settings, "starts": {"samples": {"alexnet": ["scratch"]}}})
    # factors_for runs a network at fewer factors than the profile's: its cells and its planned work follow
    fewer = {**settings, "factors": [4, 2], "factors_for": {"samples/alexnet": [4]}}
    assert distillation.cells(fewer) == distillation.cells(settings)
    pd.testing.assert_frame_equal(distillation.plan(fewer, {"samples": len(images)}), planned)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "quick", "paper"])
def test_the_profiles_keep_what_the_study_needs(profile):
    from lrlib.profiles import SETTINGS

    s = SETTINGS["04_distillation"][profile]
    jobs = distillation.cells(s)  # every start is a known one
    first = next(iter(s["starts"]))
    assert all(arch in s["starts"][first] for arch in s["sweep_archs"]) and len(s["lambdas"]) >= 3
    assert set(s["train_limit"]) <= set(s["starts"]) and set(s["table2_seeds"]) <= set(s["seeds"])
    if profile == "cpu":  # AlexNet in full on CIFAR-10, the headline cell at 8x8 on a narrower ResNet-18, 3 seeds
        assert {(a, f) for n, a, f, i in jobs if n == "cifar10"} == {("alexnet", 4), ("alexnet", 2),
                                                                      ("resnet18-w16", 4)}
        assert len(s["seeds"]) == 3 and len(s["lambdas"]) >= 4 and s["lam"] in s["lambdas"]
    elif profile != "smoke":  # the paper's headline cell gets both readings of "fine-tuned", 3 seeds, both sizes
        assert {(a, f, i) for n, a, f, i in jobs if n == "cifar10"} >= {("resnet18", f, i) for f in (4, 2)
                                                                         for i in distillation.INITS}
        assert {a for n, a, f, i in jobs if n == "cifar10"} == {"alexnet", "vgg16", "resnet18"}
        assert len(s["seeds"]) == 3 and len(s["lambdas"]) >= 4 and s["lam"] in s["lambdas"]


def test_a_student_from_the_baseline_is_trained_again_for_another_teacher(tmp_path):
    """From the baseline start the teacher is not the start, yet it sets the feature target: its key must count."""
    images, labels, lr, cfg, cache, teacher, kwargs = _cell_setup(tmp_path)
    run = lambda t: distillation.dfd_cell(  # noqa: E731
        "alexnet", (images, labels), (images, labels), lr, lr, init="baseline", cache=cache,
        **{**kwargs, "seeds": [0], "teacher": t})
    run(teacher)
    trained = cache.ledger()["trained"]
    other = distillation.train_teacher("alexnet", (images, labels), (images, labels),
                                       TrainConfig(epochs=2, batch_size=8, learning_rate=0.01, bf16=False),
                                       data=kwargs["data"], num_classes=kwargs["num_classes"], cache=cache)
    run(other)
    # the other teacher, then DFD again; the baseline and the lambda = 0 control need no teacher and are reused
    assert cache.ledger()["trained"] == trained + 2
