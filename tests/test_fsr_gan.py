import math

import numpy as np
import pandas as pd
import pytest
import torch

from lrlib.backbones import features, load_backbone
from lrlib.checks import TrainingDiverged
from lrlib.data import RetrievalSet
from lrlib.degrade import low_resolution_uint8
from lrlib.metrics import pair_distances, retrieval_distances, retrieval_map
from lrlib.results import RunCache
from lrlib.studies import fsr_gan
from lrlib.studies.fsr_gan import FeatureCritic, FeatureGenerator, GanConfig


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_paper_tables():
    # Table 2: 8*8*1*4+4 + 25*4*8+8 + 25*8*16+16 + 25*16*32+32 + 25*32*64+64 + 25*64*128+128 + 8192*4096+4096
    assert _count(FeatureGenerator(4096)) == 33_831_836
    # Table 3: 25*1*8+8 + 25*8*16+16 + 9*16*32+32 + 9*32*64+64 + 4096+1
    assert _count(FeatureCritic(4096)) == 30_657


def test_same_padding_gives_the_tables_map_sizes():
    x = torch.rand(2, 1, 64, 64)
    sides = []
    for layer in FeatureGenerator().convs:
        x = layer(x)
        if isinstance(layer, torch.nn.Conv2d):
            sides.append((x.shape[1], x.shape[2]))
    assert sides == [(4, 64), (8, 32), (16, 32), (32, 16), (64, 16), (128, 8)]
    y = torch.rand(2, 1, 64, 64)
    for layer in FeatureCritic().convs:
        y = layer(y)
    assert tuple(y.shape) == (2, 64, 8, 8)


@pytest.mark.parametrize("dim", [4096, 1280])
def test_shapes(dim):
    f = torch.rand(3, dim)
    assert FeatureGenerator(dim)(f).shape == (3, dim)
    assert FeatureCritic(dim)(f).shape == (3,)
    with pytest.raises(ValueError, match="side >= 65"):
        FeatureGenerator(4097)


def test_focal_loss_against_a_loop():
    g = torch.Generator().manual_seed(0)
    sr, hr = torch.randn(5, 2, 3, generator=g), torch.randn(5, 2, 3, generator=g)
    for r in (1.0, 2.0, 3.0):
        expected = sum(math.sqrt(sum((a - b) ** 2 for a, b in zip(s.flatten().tolist(), h.flatten().tolist()))) ** r
                       for s, h in zip(sr, hr)) / 5
        assert float(fsr_gan.focal_loss(sr, hr, r)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("r", [1.0, 2.0])
def test_focal_loss_gradient_is_finite_where_sr_equals_hr(r):
    hr = torch.randn(4, 6)
    sr = hr.clone()
    sr[0] += 1.0  # one row differs, the others are equal
    sr.requires_grad_(True)
    loss = fsr_gan.focal_loss(sr, hr, r)
    loss.backward()
    assert torch.isfinite(sr.grad).all()
    assert torch.equal(sr.grad[1:], torch.zeros_like(sr.grad[1:]))
    # the differing row: d/dsr of ||sr - hr||^r / 4 = r ||d||^(r-2) d / 4, with ||d|| = sqrt(6)
    d = sr.detach()[0] - hr[0]
    assert torch.allclose(sr.grad[0], r * d.norm() ** (r - 2) * d / 4, atol=1e-6)


def test_losses_against_hand_computations():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0, 6.0])
    assert float(fsr_gan.critic_loss(d_real, d_fake)) == pytest.approx(4.0 - 2.0)
    sr, hr = torch.tensor([[3.0, 4.0], [0.0, 0.0]]), torch.zeros(2, 2)  # distances 5 and 0
    assert float(fsr_gan.generator_loss(d_fake, sr, hr)) == pytest.approx(-4.0 + (25 + 0) / 2)
    assert float(fsr_gan.generator_loss(d_fake, sr, hr, r=1.0)) == pytest.approx(-4.0 + 5 / 2)


def test_weight_clipping_keeps_every_critic_weight_within_the_bound():
    torch.manual_seed(0)
    gen, critic = FeatureGenerator(16, side=8, dropout=0.0), FeatureCritic(16, side=8)
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(100)
    opt = torch.optim.Adam(critic.parameters(), lr=0.1)
    config = GanConfig(side=8, clip=0.01)
    for _ in range(3):
        fsr_gan.critic_step(gen, critic, opt, torch.rand(8, 16), torch.rand(8, 16), config)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in critic.parameters())
    with pytest.raises(ValueError, match="clip=None"):
        GanConfig(clip=0.01, penalty=10.0)


def test_clip_weights_matches_a_clamp_per_parameter():
    torch.manual_seed(1)
    critic = FeatureCritic(16, side=8)
    before = [v for p in critic.parameters() for v in p.detach().flatten().tolist()]
    assert min(before) < -0.05 and max(before) > 0.05 and sum(abs(v) < 0.05 for v in before) > 100  # some clipped
    fsr_gan.clip_weights(critic, 0.05)
    after = [v for p in critic.parameters() for v in p.detach().flatten().tolist()]
    assert after == pytest.approx([min(max(v, -0.05), 0.05) for v in before], abs=1e-8)  # 0.05 in float32
    with pytest.raises(ValueError, match="clip"):
        fsr_gan.clip_weights(critic, 0.0)


@pytest.mark.parametrize("adversarial", [True, False])
def test_budget_counts_the_updates_a_training_makes(monkeypatch, adversarial):
    from lrlib.studies.fsr_gan import method

    calls = {"critic": [], "generator": []}
    for name, step in (("critic", method.critic_step), ("generator", method.generator_step)):
        def counted(gen, critic, opt, lr, hr, config, _name=name, _step=step):
            calls[_name].append(len(lr))
            return _step(gen, critic, opt, lr, hr, config)
        monkeypatch.setattr(method, f"{name}_step", counted)
    train, held = _synthetic()  # 256 training pairs
    config = GanConfig(**{**TINY, "batch_size": 50}, adversarial=adversarial)  # 5 full batches an epoch, 6 left
    fsr_gan.train_generator(*train, config, held_out=held, progress=False)
    plan = fsr_gan.budget(256, config)
    assert plan == {"batch": 50, "steps_per_epoch": 5, "generator_steps": 4 * 5,
                    "critic_steps": 2 * 4 * 5 if adversarial else 0}
    assert calls["generator"] == [50] * plan["generator_steps"] and calls["critic"] == [50] * plan["critic_steps"]
    assert fsr_gan.budget(30, config)["batch"] == 30  # never more than the pairs


def _synthetic(n=320, dim=16, seed=0):
    """HR features and LR copies that a fixed linear map and noise degrade: a task G can learn."""
    g = torch.Generator().manual_seed(seed)
    hr = fsr_gan.unit(torch.rand(n, dim, generator=g))
    mix = torch.eye(dim) + 0.8 * torch.rand(dim, dim, generator=g)
    lr = fsr_gan.unit(hr @ mix + 0.05 * torch.randn(n, dim, generator=g))
    return (lr[:256], hr[:256]), (lr[256:], hr[256:])


TINY = dict(side=8, epochs=4, batch_size=32, critic_steps=2, dropout=0.0, learning_rate=2e-3)


@pytest.mark.parametrize("adversarial", [True, False])
def test_a_tiny_training_lowers_the_held_out_distance(adversarial):
    train, held = _synthetic()
    gen, record = fsr_gan.train_generator(*train, GanConfig(**TINY, adversarial=adversarial), held_out=held,
                                          progress=False)
    curve = record["held_out_distance"]
    assert len(curve) == TINY["epochs"] + 1 and curve[-1] < 0.8 * curve[0]
    assert curve[-1] == pytest.approx(float(pair_distances(held[1], fsr_gan.enhance(gen, held[0])).mean()), abs=1e-6)
    assert len(record["critic_loss"]) == (TINY["epochs"] if adversarial else 0)


def test_a_seed_makes_reruns_match_and_another_seed_differs():
    train, held = _synthetic()
    runs = [fsr_gan.train_generator(*train, GanConfig(**TINY, seed=s), held_out=held, progress=False)
            for s in (3, 3, 4)]
    (g1, r1), (g2, r2), (g3, r3) = runs
    assert r1["held_out_distance"] == r2["held_out_distance"]
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    assert r1["held_out_distance"] != r3["held_out_distance"]


def test_the_cache_resumes_a_finished_training(tmp_path):
    train, held = _synthetic()
    config = GanConfig(**TINY)
    gen, record = fsr_gan.train_generator(*train, config, held_out=held, cache=RunCache(tmp_path), progress=False)
    again = RunCache(tmp_path)
    loaded, record2 = fsr_gan.train_generator(*train, config, held_out=held, cache=again, progress=False)
    assert again.ledger()["loaded"] == 1 and again.ledger()["trained"] == 0
    assert record2["held_out_distance"] == record["held_out_distance"]
    assert torch.equal(fsr_gan.enhance(gen, held[0]), fsr_gan.enhance(loaded, held[0]))
    other = RunCache(tmp_path)  # another seed is another run
    fsr_gan.train_generator(*train, GanConfig(**TINY, seed=1), held_out=held, cache=other, progress=False)
    assert other.ledger()["trained"] == 1


@pytest.mark.parametrize("adversarial", [True, False])
def test_a_training_that_diverges_stops_and_is_not_cached(tmp_path, adversarial):
    train, held = _synthetic()
    config = GanConfig(**{**TINY, "learning_rate": 1e6}, adversarial=adversarial)
    with pytest.raises(TrainingDiverged, match=r"diverged: .*; lower GanConfig.learning_rate \(now 1e\+06\)"):
        fsr_gan.train_generator(*train, config, held_out=held, cache=RunCache(tmp_path), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_gradient_penalty_training_runs():
    train, held = _synthetic()
    _, record = fsr_gan.train_generator(*train, GanConfig(**TINY, clip=None, penalty=10.0), held_out=held,
                                        progress=False)
    assert all(math.isfinite(x) for x in record["critic_loss"])


def test_training_pairs_split_by_image():
    bank = {f: torch.arange(10.0)[:, None].repeat(1, 3) + 100 * f for f in (1, 2, 4)}
    (lr, hr), (held_lr, held_hr) = fsr_gan.training_pairs(bank, held_fraction=0.2)
    assert lr.shape == (16, 3) and held_lr.shape == (4, 3)
    train_ids, held_ids = set((hr[:, 0] - 100).tolist()), set((held_hr[:, 0] - 100).tolist())
    assert len(held_ids) == 2 and not train_ids & held_ids
    assert torch.equal(lr[:, 0] % 100, hr[:, 0] % 100)  # every LR row pairs with its own image's HR row


def test_training_pairs_hold_out_whole_groups():
    n, groups = 60, torch.arange(60) // 4 * 7  # 15 photos of 4 crops each, ids not 0..14
    bank = {f: torch.arange(float(n))[:, None].repeat(1, 3) + 100 * f for f in (1, 2, 4)}
    for seed in range(5):
        (lr, hr), (held_lr, held_hr) = fsr_gan.training_pairs(bank, held_fraction=0.2, seed=seed, groups=groups)
        train_rows, held_rows = (set((h[:, 0] - 100).long().tolist()) for h in (hr, held_hr))
        train_photos, held_photos = ({int(groups[i]) for i in rows} for rows in (train_rows, held_rows))
        assert not train_photos & held_photos and len(train_photos | held_photos) == 15
        assert len(held_photos) == 3  # round(15 * 0.2)
        assert held_rows == {i for i in range(n) if int(groups[i]) in held_photos}  # every crop of a held photo
        assert len(held_lr) == 2 * len(held_rows) and len(lr) == 2 * len(train_rows)
        assert torch.equal(lr[:, 0] % 100, hr[:, 0] % 100)
    uneven = torch.tensor([0] * 30 + list(range(1, 31)))  # one photo with 30 crops, 30 with one
    held = [len(fsr_gan.training_pairs(bank, held_fraction=0.5, seed=s, groups=uneven)[1][1]) // 2 for s in range(40)]
    assert 25 < np.mean(held) < 35  # half of the photos: 15 single crops, plus the big photo half of the time
    with pytest.raises(ValueError, match=r"\(60,\) integer ids"):
        fsr_gan.training_pairs(bank, groups=torch.zeros(59, dtype=torch.long))
    with pytest.raises(ValueError, match="1 groups"):
        fsr_gan.training_pairs(bank, groups=torch.zeros(60, dtype=torch.long))


def test_training_pairs_with_one_image_per_group_split_as_without_groups():
    bank = {f: torch.rand(30, 4) for f in (1, 3)}
    plain = fsr_gan.training_pairs(bank, held_fraction=0.3, seed=2)
    grouped = fsr_gan.training_pairs(bank, held_fraction=0.3, seed=2, groups=torch.arange(30) * 3 + 5)
    assert all(torch.equal(a, b) for side in zip(plain, grouped) for a, b in zip(*side))


def test_photo_retrieval_and_crops():
    query, database, rel = fsr_gan.photo_retrieval(torch.tensor([0, 0, 1, 1, 1]))
    assert query.tolist() == [0, 2] and database.tolist() == [1, 3, 4]
    assert rel.tolist() == [[True, False, False], [False, True, True]]
    photos = [torch.zeros(3, 40, 50, dtype=torch.uint8), torch.zeros(3, 10, 10, dtype=torch.uint8)]
    crops, ids = fsr_gan.photo_crops(photos, 16, 3)
    assert crops.shape == (3, 3, 16, 16) and ids.tolist() == [0, 0, 0]  # the small photo is skipped


def test_query_bits_shrink_with_the_factor():
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    bits = [fsr_gan.query_bits(img, f) for f in (1, 2, 4)]
    assert bits[0] > bits[1] > bits[2] > 0


def _png_bits(image):
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return 8 * len(buffer.getvalue())


def test_query_bits_on_a_fixed_subsample_is_the_mean_of_one_subset():
    import itertools

    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8, generator=g)
    for i in range(5):
        img[i, :, 3 * (i + 1):] = 0  # noise in the first 3, 6, ... rows: five different PNG sizes
    sizes = [_png_bits(x) for x in img]
    assert len(set(sizes)) == 5
    assert fsr_gan.query_bits(img, 1, max_images=None) == pytest.approx(np.mean(sizes))
    assert fsr_gan.query_bits(img, 1, max_images=5) == pytest.approx(np.mean(sizes))
    two = fsr_gan.query_bits(img, 1, max_images=2, seed=3)
    means = {i: np.mean([sizes[a] for a in i]) for i in itertools.combinations(range(5), 2)}
    picked = [i for i, m in means.items() if m == pytest.approx(two)]
    assert len(picked) == 1 and two == fsr_gan.query_bits(img, 1, max_images=2, seed=3)
    # the same images at every factor: the subsample's LR copies, one by one
    lr = [fsr_gan.query_bits(img[i:i + 1], 2, max_images=None) for i in picked[0]]
    assert fsr_gan.query_bits(img, 2, max_images=2, seed=3) == pytest.approx(np.mean(lr))
    with pytest.raises(ValueError, match="max_images"):
        fsr_gan.query_bits(img, 2, max_images=0)


def test_evaluate_against_direct_computations():
    g = torch.Generator().manual_seed(1)
    hr = fsr_gan.unit(torch.rand(12, 8, generator=g))
    labels = torch.arange(12) % 3
    rel = (labels[:, None] == labels[None, :]) & ~torch.eye(12, dtype=torch.bool)
    runs = [fsr_gan.unit(hr + 0.3 * torch.rand(12, 8, generator=g)) for _ in range(2)]
    train_hr = fsr_gan.unit(torch.rand(20, 8, generator=g))
    table = fsr_gan.evaluate({fsr_gan.FSR: {2: runs}}, hr, hr, rel, train_hr=train_hr,
                             distractors=fsr_gan.unit(torch.rand(5, 8)))
    row = table[table["method"] == fsr_gan.FSR].iloc[0]
    d = [float(np.mean([np.linalg.norm(a - b) for a, b in zip(q.numpy(), hr.numpy())])) for q in runs]
    assert row["distance"] == pytest.approx(np.mean(d), abs=1e-6)
    assert row["distance_std"] == pytest.approx(np.std(d, ddof=1), abs=1e-6)
    assert row["map"] == pytest.approx(np.mean([retrieval_map(q, hr, rel) for q in runs]))
    assert row["map_distractors"] <= row["map"] + 1e-12
    hr_row = table[table["method"] == "HR"].iloc[0]
    assert hr_row["distance"] == pytest.approx(0.0, abs=1e-6)
    const = table[table["method"] == fsr_gan.CONSTANT].iloc[0]
    mean = train_hr.mean(0) / train_hr.mean(0).norm()
    assert const["distance"] == pytest.approx(float((hr - mean).norm(dim=1).mean()), abs=1e-6)


def _table(fsr_distance, fsr_map, *, distance_std=0.0, map_std=0.0, raw_map=(0.20, 0.20)):
    """An evaluate-like table at 1/4 and 1/64: FSR-GAN over 3 seeds (the given stds), the others over one."""
    rows = []
    for f, raw in zip((2, 8), raw_map):
        for method, dist, m in ((fsr_gan.RAW, 1.0, raw), (fsr_gan.FSR, fsr_distance, fsr_map),
                                (fsr_gan.CNN, 0.7, 0.22), (fsr_gan.CONSTANT, 0.9, 0.10),
                                (fsr_gan.GAN_MSE, 0.8, 0.2), (fsr_gan.GAN_R3, 0.75, 0.2), ("SRCNN", 0.9, 0.5)):
            fsr = method == fsr_gan.FSR
            rows.append({"method": method, "factor": f, "runs": 3 if fsr else 1, "distance": dist, "map": m,
                         "distance_std": distance_std if fsr else 0.0, "map_std": map_std if fsr else 0.0})
    return pd.DataFrame(rows)


def test_findings_follow_the_numbers():
    good = fsr_gan.findings(_table(0.6, 0.25, raw_map=(0.5, 0.2)), similar=0.96)
    assert "FSR-GAN: the mean of 3 seeds; CNN-Baseline, GAN-MSE (r=1), GAN-focal (r=3), SRCNN: 1 seed each" in good
    assert 'FSR-GAN 0.600 (std 0.000 over its seeds) (raw 1.000), 0.62 of the "similar" line (0.960)' in good
    # at 1/64: 0.20 -> 0.25; over both ratios: raw (0.5 + 0.2) / 2 = 0.35 -> 0.25, i.e. -0.100 and -28.6%
    assert "at 1/64:** +0.050 absolute (+5.0 points), +25.0% relative (0.200 -> 0.250)" in good
    assert "mean over the 2 ratios:** -0.100 absolute (-10.0 points), -28.6% relative (0.350 -> 0.250)" in good
    assert ("against CNN-Baseline:** distance smaller at 1/4, 1/64 (2 of 2), larger at no ratio, within seed noise "
            "at no ratio; mAP higher at 1/4, 1/64 (2 of 2)") in good
    assert "smallest mean distance over the ratios with FSR-GAN (" in good
    assert "SRCNN (image SR) against FSR-GAN:** higher mAP at 1/4, 1/64 (2 of 2), lower at no ratio" in good
    bad = fsr_gan.findings(_table(1.2, 0.1), similar=0.95)
    assert '1.26 of the "similar" line' in bad and "-50.0% relative" in bad
    assert "against CNN-Baseline:** distance smaller at no ratio, larger at 1/4, 1/64 (2 of 2)" in bad
    assert "with GAN-focal (r=3) (" in bad
    with pytest.raises(ValueError, match="needs 'FSR-GAN'"):
        fsr_gan.findings(_table(0.6, 0.2).query("method != 'FSR-GAN'"))


def test_findings_count_a_difference_only_beyond_twice_the_seed_std():
    # FSR-GAN 0.74 against r=3's 0.75 and CNN's 0.70: gaps 0.01 and 0.04
    noisy = fsr_gan.findings(_table(0.74, 0.21, distance_std=0.03, map_std=0.004))
    assert "0.750), but within seed noise of GAN-focal (r=3) (gap 0.010 <= 0.060" in noisy
    assert ("against CNN-Baseline:** distance smaller at no ratio, larger at no ratio, within seed noise at 1/4, "
            "1/64 (2 of 2); mAP higher at no ratio, lower at 1/4, 1/64 (2 of 2)") in noisy  # mAP gap 0.01 > 0.008
    quiet = fsr_gan.findings(_table(0.74, 0.21, distance_std=0.004, map_std=0.006))
    assert "smallest mean distance over the ratios with FSR-GAN (" in quiet  # 0.01 > 2 * 0.004
    assert "seed noise of GAN-focal" not in quiet
    assert "CNN-Baseline:** distance smaller at no ratio, larger at 1/4, 1/64 (2 of 2)" in quiet
    one = fsr_gan.findings(_table(0.7, 0.22).assign(runs=1))
    assert "FSR-GAN: one seed;" in one and "(std" not in one
    assert "every difference counts" in one and "CNN-Baseline:** distance smaller at no ratio, larger at no ratio, " \
        "equal at 1/4, 1/64 (2 of 2)" in one


def test_constant_distance_against_a_loop():
    g = torch.Generator().manual_seed(4)
    train_hr, hr = torch.rand(7, 5, generator=g), torch.rand(3, 5, generator=g)
    mean = [sum(row[j] for row in train_hr.tolist()) / 7 for j in range(5)]
    c = [v / math.sqrt(sum(x * x for x in mean)) for v in mean]
    expected = np.mean([math.sqrt(sum((a / math.sqrt(sum(x * x for x in h)) - b) ** 2 for a, b in zip(h, c)))
                        for h in hr.tolist()])
    assert fsr_gan.constant_distance(train_hr, hr) == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="one dim"):
        fsr_gan.constant_distance(train_hr, hr[:, :4])


def test_knn_accuracy_is_averaged_over_the_runs():
    g = torch.Generator().manual_seed(5)
    ref, ref_labels = torch.randn(20, 4, generator=g), torch.arange(20) % 4
    hr, labels = torch.randn(6, 4, generator=g), torch.tensor([0, 1, 2, 3, 0, 1])
    runs = [torch.randn(6, 4, generator=g) for _ in range(3)]

    def nearest_label_accuracy(q):  # 1-NN by cosine similarity, one query at a time
        hits = 0
        for x, y in zip(q.tolist(), labels.tolist()):
            cos = [sum(a * b for a, b in zip(x, r)) / math.sqrt(sum(a * a for a in x) * sum(b * b for b in r))
                   for r in ref.tolist()]
            hits += int(ref_labels[max(range(20), key=cos.__getitem__)]) == y
        return hits / 6

    rel = labels[:, None] == labels[None, :]
    table = fsr_gan.evaluate({fsr_gan.FSR: {2: runs}}, hr, hr, rel, train_hr=ref, knn=(ref, ref_labels, labels), k=1)
    got = table.loc[table["method"] == fsr_gan.FSR, "knn"].iloc[0]
    assert got == pytest.approx(np.mean([nearest_label_accuracy(q) for q in runs]))


def test_class_retrieval_ignores_each_query_s_own_hr_twin():
    labels = torch.tensor([0, 0, 1, 1])
    hr = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    rel, twins = fsr_gan.class_retrieval(labels)
    assert torch.equal(twins, torch.eye(4, dtype=torch.bool)) and not (rel & twins).any()
    # a query identical to its twin: the twin ranks first; as a miss it halves the AP, ignored the AP is 1
    assert retrieval_map(hr, hr, rel) == pytest.approx(0.5)
    assert retrieval_map(hr, hr, rel, ignore=twins) == pytest.approx(1.0)
    table = fsr_gan.evaluate({fsr_gan.FSR: {2: [hr]}}, hr, hr, rel, train_hr=hr, ignore=twins)
    assert table.loc[table["method"] == fsr_gan.FSR, "map"].iloc[0] == pytest.approx(1.0)
    with_distractors = fsr_gan.evaluate({fsr_gan.FSR: {2: [hr]}}, hr, hr, rel, train_hr=hr, ignore=twins,
                                        distractors=torch.tensor([[-1.0, 0.0]]))
    assert with_distractors.loc[with_distractors["method"] == fsr_gan.FSR, "map_distractors"].iloc[0] == 1.0


def _benchmark(q=3, m=8, side=32, seed=0):
    """A tiny retrieval benchmark: random photos, hand-made relevant and junk masks, one photo nobody finds."""
    g = torch.Generator().manual_seed(seed)
    relevant = torch.zeros(q, m, dtype=torch.bool)
    relevant[0, [0, 1]] = relevant[1, [2, 3]] = relevant[2, [4]] = True
    junk = torch.zeros(q, m, dtype=torch.bool)
    junk[0, 2] = junk[2, 5] = True
    return RetrievalSet(torch.randint(0, 256, (q, 3, side, side), dtype=torch.uint8, generator=g),
                        torch.randint(0, 256, (m, 3, side, side), dtype=torch.uint8, generator=g), relevant, junk,
                        ["p1", "q1", "q2"], [f"p{i}" for i in range(m)], f"tiny@{side}")


def test_unrelated_rows_leave_out_every_query_its_answers_and_its_junk():
    bench = _benchmark()
    assert fsr_gan.unrelated_rows(bench).tolist() == [6, 7]  # rows 0-5 relevant or junk; p1 is also a query
    bench.relevant[:] = True
    with pytest.raises(ValueError, match="another benchmark"):
        fsr_gan.unrelated_rows(bench)


def test_benchmark_table_passes_queries_through_g_and_not_the_database():
    torch.manual_seed(0)
    bench, size = _benchmark(), 32
    backbone = load_backbone("resnet18", pretrained=False)
    gen = torch.nn.Linear(backbone.dim, backbone.dim)  # a stand-in G: any (N, dim) -> (N, dim) module
    table = fsr_gan.benchmark_table(backbone, bench, {fsr_gan.FSR: [(gen, {})]}, [2], size=size, progress=False,
                                    train_hr=torch.rand(4, backbone.dim))
    feats = lambda images, factor=1: fsr_gan.unit(features(backbone, images, dataset="x", factor=factor, size=size,
                                                           progress=False))
    lr, database = feats(bench.queries, 2), feats(bench.database)
    direct = lambda q, db: retrieval_map(q, db, bench.relevant, ignore=bench.junk, ap="trapezoid")
    at = lambda method, factor=2: table.loc[(table["method"] == method) & (table["factor"] == factor), "map"].iloc[0]
    sr = fsr_gan.enhance(gen, lr)
    assert at(fsr_gan.FSR) == pytest.approx(direct(sr, database))
    assert at(fsr_gan.FSR) != pytest.approx(direct(sr, fsr_gan.enhance(gen, database)))  # the database is not G'd
    assert at(fsr_gan.RAW) == pytest.approx(direct(lr, database))
    assert at("HR", 1) == pytest.approx(direct(feats(bench.queries), database))


def test_retrieval_distances_against_a_loop():
    g = torch.Generator().manual_seed(2)
    queries, database = torch.randn(4, 6, generator=g).double(), torch.randn(9, 6, generator=g).double()
    relevant, junk = torch.rand(4, 9, generator=g) < 0.3, torch.rand(4, 9, generator=g) < 0.2
    relevant[0, 0], junk[0, 0] = True, True  # relevant and junk: junk, in neither mean
    similar, different = [], []
    for q in range(4):
        for m in range(9):
            if junk[q, m]:
                continue
            d = float((queries[q] / queries[q].norm() - database[m] / database[m].norm()).norm())
            (similar if relevant[q, m] else different).append(d)
    got = retrieval_distances(queries, database, relevant, ignore=junk)
    assert got == pytest.approx((np.mean(similar), np.mean(different)), abs=1e-9)
    assert retrieval_distances(queries, database, relevant)[0] != pytest.approx(got[0])  # junk counted
    with pytest.raises(ValueError, match="0 relevant"):
        retrieval_distances(queries, database, torch.zeros(4, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(Q, M\) = \(4, 9\)"):
        retrieval_distances(queries, database, relevant[:, :5])


def _hr(backbone, images, size=32):
    return fsr_gan.unit(features(backbone, images, dataset="x", size=size, progress=False))


def test_benchmark_references_are_the_ground_truth_distances_of_the_hr_features():
    torch.manual_seed(0)
    bench, backbone = _benchmark(), load_backbone("resnet18", pretrained=False)
    refs = fsr_gan.benchmark_references(backbone, bench, size=32, progress=False)
    expected = retrieval_distances(_hr(backbone, bench.queries), _hr(backbone, bench.database), bench.relevant,
                                   ignore=bench.junk)
    assert (refs["similar"], refs["different"]) == pytest.approx(expected)


def test_distractor_features_chunk_by_chunk_through_the_cache(root, tmp_path, monkeypatch):
    from PIL import Image

    from lrlib import backbones, data
    from test_data_benchmarks import REVISITOP, serve_revisitop, write_revisitop_archives

    monkeypatch.setenv("LRLIB_CACHE", str(tmp_path / "cache"))
    serve_revisitop(monkeypatch, write_revisitop_archives(tmp_path / "server"))
    with pytest.warns(UserWarning, match="no checksum"):
        data.fetch(REVISITOP, progress=False)
    backbone = load_backbone("efficientnet_lite0")  # pretrained (offline): the feature cache is used
    got = fsr_gan.distractor_features(backbone, REVISITOP, size=32, progress=False)
    files = sorted((root / REVISITOP / "jpg").rglob("*.jpg"))  # chunk order: folders by name, then files
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((32, 32), Image.Resampling.BICUBIC))
                       for p in files])
    direct = fsr_gan.unit(backbones.extract(backbone, torch.from_numpy(pixels).permute(0, 3, 1, 2), size=32,
                                            progress=False))
    assert got.shape == (len(files), backbone.dim)
    torch.testing.assert_close(got, direct, atol=1e-4, rtol=1e-4)
    cached = sorted((tmp_path / "cache" / "features").glob("*.pt"))
    assert len(cached) == len({p.parent.name for p in files})  # one file per chunk (folder)
    monkeypatch.setattr(backbones, "extract", lambda *a, **k: pytest.fail("a cached chunk was extracted again"))
    torch.testing.assert_close(fsr_gan.distractor_features(backbone, REVISITOP, size=32, progress=False), got)


def test_distractors_are_never_relevant():
    torch.manual_seed(0)
    bench, size = _benchmark(), 32
    backbone = load_backbone("resnet18", pretrained=False)
    gen = torch.nn.Linear(backbone.dim, backbone.dim)
    table = lambda distractors: fsr_gan.benchmark_table(
        backbone, bench, {fsr_gan.FSR: [(gen, {})]}, [2], size=size, progress=False,
        train_hr=torch.rand(4, backbone.dim), distractors=distractors).set_index(["method", "factor"])
    database = _hr(backbone, bench.database)
    twins = database[bench.relevant.any(0)]  # copies of every relevant item: each one a miss
    near = table(twins)
    assert (near["map_distractors"] <= near["map"] + 1e-12).all()
    assert near.loc[("HR", 1), "map_distractors"] < near.loc[("HR", 1), "map"]
    wide = lambda mask: torch.cat([mask, torch.zeros(len(mask), len(twins), dtype=torch.bool)], 1)
    sr = fsr_gan.enhance(gen, fsr_gan.unit(features(backbone, bench.queries, dataset="x", factor=2, size=size,
                                                    progress=False)))
    assert near.loc[(fsr_gan.FSR, 2), "map_distractors"] == pytest.approx(retrieval_map(
        sr, torch.cat([database, twins]), wide(bench.relevant), ignore=wide(bench.junk), ap="trapezoid"))
    far = table(1000 * fsr_gan.unit(torch.rand(5, backbone.dim)))  # beyond every database item: ranked last
    np.testing.assert_allclose(far["map_distractors"], far["map"], rtol=1e-12)
    assert table(None)["map_distractors"].isna().all()


def test_image_sr_features_report_the_budget_and_psnr_against_bicubic():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(6)
    train, test = (torch.randint(0, 256, (n, 3, 33, 33), dtype=torch.uint8, generator=g) for n in (6, 3))
    backbone = load_backbone("resnet18", pretrained=False)
    feats, stats = fsr_gan.image_sr_features(backbone, train, test, 2, network="srcnn", steps=2, batch_size=4,
                                             dataset="x", size=32, progress=False)
    assert feats.shape == (3, backbone.dim)
    assert torch.allclose(feats.norm(dim=1), torch.ones(3))
    target = test[..., :32, :32]  # cropped to a multiple of the factor, down-scaled again, up-sampled bicubically
    small = low_resolution_uint8(target, 2, keep_size=False).float() / 255
    bicubic = (torch.nn.functional.interpolate(small, scale_factor=2, mode="bicubic").clamp(0, 1) * 255).round()
    mse = np.mean((bicubic.numpy().astype(np.float64) - target.numpy().astype(np.float64)) ** 2)
    assert stats["psnr_bicubic"] == pytest.approx(10 * math.log10(255 ** 2 / mse))
    assert (stats["steps"], stats["batch_size"]) == (2, 4) and math.isfinite(stats["psnr"])


def _rgb(c):
    from matplotlib.colors import to_rgb

    return to_rgb(c)


def test_ratio_panel_draws_each_method_in_its_colour_and_fsr_gan_s_band():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = _table(0.6, 0.25, distance_std=0.05)
    methods = [fsr_gan.RAW, fsr_gan.CNN, fsr_gan.FSR, fsr_gan.CONSTANT]
    fig, ax = plt.subplots()
    frame = fsr_gan.ratio_panel(ax, table, "distance", methods, title="t", ylabel="y")
    assert list(frame.index) == ["1/4", "1/64"]
    assert {line.get_label(): _rgb(line.get_color()) for line in ax.lines} == {
        m: _rgb(fsr_gan.COLOURS[m]) for m in methods}
    band, = ax.collections
    assert _rgb(band.get_facecolor()[0][:3]) == pytest.approx(_rgb(fsr_gan.COLOURS[fsr_gan.FSR]))
    ys = band.get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx((0.55, 0.65))
    fsr_gan.paper_distance(ax, frame)
    point = ax.lines[-1]
    assert list(point.get_xdata()) == [1] and list(point.get_ydata()) == [0.62]  # one point, at 1/64
    assert point.get_label() == "paper: FSR-GAN at 1/64 (VGG16 relu7, its benchmarks)"
    before = len(ax.lines)
    fsr_gan.paper_distance(ax, frame.iloc[:1])  # no 1/64: no point
    assert len(ax.lines) == before
    with pytest.raises(ValueError, match="no colour"):
        fsr_gan.colour("ESPCN")
    plt.close(fig)
    fig, ax = plt.subplots()
    fsr_gan.ratio_panel(ax, table.assign(runs=1), "distance", methods, title="t", ylabel="y")
    assert not ax.collections  # one seed: no band
    plt.close(fig)


def test_training_figure_shows_the_constant_and_fsr_gan_s_seed_band():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = lambda d, g, c: {"held_out_distance": d, "generator_loss": g, "critic_loss": c}
    gens = {"set": {fsr_gan.CNN: [(None, record([1.0, 0.8], [0.5], []))],
                    fsr_gan.FSR: [(None, record([1.0, x], [0.4], [-0.1])) for x in (0.6, 0.7, 0.8)]}}
    fig = fsr_gan.training_figure(gens, {"set": 0.9})
    axes = {ax.get_ylabel(): ax for ax in fig.axes}
    distance = axes["held-out SR-HR distance"]
    constant = [line for line in distance.lines if line.get_label().startswith(fsr_gan.CONSTANT)]
    assert len(constant) == 1 and list(constant[0].get_ydata()) == [0.9, 0.9]
    fsr = next(line for line in distance.lines if line.get_label().startswith(fsr_gan.FSR))
    assert list(fsr.get_ydata()) == pytest.approx([1.0, 0.7])  # the mean of the seeds
    xy = distance.collections[0].get_paths()[0].vertices
    at_one = xy[xy[:, 0] == 1, 1]
    assert (at_one.min(), at_one.max()) == pytest.approx((0.6, 0.8))  # ±1 std (0.1) after epoch 1
    critic = axes["critic loss (Eq. 7) = -W estimate"]
    assert "generator loss (Eq. 9)" in axes
    assert [line.get_label() for line in critic.lines] == [f"{fsr_gan.FSR} (mean of 3 seeds, ±1 std)"]  # no CNN
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="one distance per training set"):
        fsr_gan.training_figure(gens, {})
    plt.close(fig)


def test_work_counts_the_extractions_and_each_generator_s_updates():
    base = fsr_gan.GanConfig(epochs=2, batch_size=8, critic_steps=3)
    line = fsr_gan.work(base, [0, 1], [2, 4], {"small": 10}, {"small": 5}, sr_networks=["srcnn"], sr_factors=[2],
                        sr_steps=7, sr_batch=4)
    # 15 images at HR and 2 factors; 20 pairs at batch 8: 2 steps an epoch, 2 epochs, 3 critic steps each
    assert "45 feature extractions" in line and "small 4 G + 12 critic steps of 8" in line
    assert f"{len(fsr_gan.variants(base)) - 1 + 2} generators" in line and "1 image-SR networks of 7 steps" in line
