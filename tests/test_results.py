import json

import pytest
import torch

from lrlib.results import load_results, provenance, save_results


def test_save_and_load_with_provenance(tmp_path):
    meta = provenance("smoke", "cpu", dataset="samples")
    path = save_results("00_test", {"x": torch.tensor(1.5), "y": [1, 2]}, meta, folder=tmp_path)
    back = load_results("00_test", folder=tmp_path)
    assert back["results"] == {"x": 1.5, "y": [1, 2]}
    for key in ("git_commit", "profile", "device", "torch", "date", "dataset"):
        assert key in back["meta"]
    assert not list(tmp_path.glob("*.tmp")) and path.name == "00_test.json"


def test_other_profile_is_kept_not_overwritten(tmp_path):
    save_results("00_test", {"v": 1}, {"profile": "quick"}, folder=tmp_path)
    save_results("00_test", {"v": 2}, {"profile": "smoke"}, folder=tmp_path)
    kept = list(tmp_path.glob("00_test.quick.*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["results"] == {"v": 1}
    assert load_results("00_test", folder=tmp_path)["results"] == {"v": 2}


def test_missing_results_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 09"):
        load_results("09", folder=tmp_path)


def test_runs_never_write_the_committed_results(monkeypatch):
    from lrlib import paths, results

    monkeypatch.delenv("LRLIB_RESULTS", raising=False)
    assert results.results_dir() == paths.repo_root() / "runs" / "notebooks" / "results"
    assert results.published_dir() == paths.repo_root() / "results" != results.results_dir()


def _write_concurrently(folder, profiles):
    """Each profile saves 00_test from its own process, all at once; returns the processes' exit codes."""
    import subprocess
    import sys

    code = ("import sys; from lrlib.results import save_results; "
            "save_results('00_test', {'by': sys.argv[1]}, {'profile': sys.argv[1]}, folder=sys.argv[2])")
    procs = [subprocess.Popen([sys.executable, "-c", code, p, str(folder)]) for p in profiles]
    return [p.wait(timeout=120) for p in procs]


def test_concurrent_writers_of_one_file_each_keep_their_results(tmp_path):
    """Two runs of different profiles writing one results file at once: neither crashes, both results stay."""
    save_results("00_test", {"by": "published"}, {"profile": "quick"}, folder=tmp_path)
    assert _write_concurrently(tmp_path, ["smoke", "paper", "smoke-b"]) == [0, 0, 0]
    written = [json.loads(p.read_text())["results"]["by"] for p in tmp_path.glob("00_test*.json")]
    assert sorted(written) == ["paper", "published", "smoke", "smoke-b"]


def test_damaged_results_file_is_named(tmp_path):
    (tmp_path / "00_test.json").write_text('{"meta": {"profile": "qu')
    with pytest.raises(ValueError, match=r"00_test.json is damaged.*run notebook 00_test again"):
        load_results("00_test", folder=tmp_path)
    save_results("00_test", {"v": 1}, {"profile": "smoke"}, folder=tmp_path)  # the damaged one is kept aside
    assert len(list(tmp_path.glob("00_test.unreadable.*.json"))) == 1


def test_a_results_file_that_is_a_json_list_is_damaged(tmp_path):
    (tmp_path / "00_test.json").write_text('["meta", "results"]')
    with pytest.raises(ValueError, match=r"00_test.json is damaged \(it holds a JSON list"):
        load_results("00_test", folder=tmp_path)


def test_a_damaged_cache_entry_is_set_aside_and_trained_again(tmp_path):
    from lrlib.results import RunCache

    cache = RunCache(tmp_path)
    key = {"method": "toy", "seed": 0}
    model = torch.nn.Linear(2, 1)
    trains = []

    def train():
        trains.append(1)
        return model, {"accuracy": 0.5}

    cache.train_or_load(key, train, build=lambda: torch.nn.Linear(2, 1))
    record_file, weights_file = next(tmp_path.glob("toy-*.json")), next(tmp_path.glob("toy-*.pt"))
    weights_file.write_bytes(weights_file.read_bytes()[:40])  # a killed or damaged write
    with pytest.warns(UserWarning, match=f"{weights_file.name} is damaged"):
        record, loaded = RunCache(tmp_path).train_or_load(key, train, build=lambda: torch.nn.Linear(2, 1))
    assert len(trains) == 2 and record["accuracy"] == 0.5
    record_file.write_text("{not json")
    with pytest.warns(UserWarning) as caught:  # the record, then its weights, which it no longer vouches for
        RunCache(tmp_path).train_or_load(key, train, build=lambda: torch.nn.Linear(2, 1))
    assert any(f"{record_file.name} is damaged" in str(w.message) for w in caught)
    assert len(trains) == 3 and len(list(tmp_path.glob("*.damaged-*"))) == 3  # kept aside, never deleted
    assert RunCache(tmp_path).get(key)["accuracy"] == 0.5


def test_nan_and_infinities_are_written_as_null_so_the_file_is_strict_json(tmp_path):
    import numpy as np

    numbers = {"a": float("nan"), "b": [np.float64("inf"), 1.5], "c": torch.tensor([float("-inf"), 2.0]),
               "d": {"e": np.array([np.nan, 3.0])}}
    path = save_results("nb", numbers, provenance("smoke", "cpu"), folder=tmp_path)

    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    strict = json.loads(path.read_text(), parse_constant=refuse)
    assert strict["results"] == {"a": None, "b": [None, 1.5], "c": [None, 2.0], "d": {"e": [None, 3.0]}}


def test_run_cache_keys_hold_the_numerics(tmp_path):
    """A float32 training is never served for a bf16 one: the same key under other numerics trains again."""
    from lrlib.results import RunCache

    calls = []

    def train():
        calls.append(1)
        return None, {"accuracy": 0.5}

    RunCache(tmp_path, "cpu-fp32").train_or_load({"method": "m", "seed": 0}, train)
    RunCache(tmp_path, "cpu-fp32").train_or_load({"method": "m", "seed": 0}, train)
    RunCache(tmp_path, "cpu-bf16").train_or_load({"method": "m", "seed": 0}, train)
    record, _ = RunCache(tmp_path, "cpu-bf16").train_or_load({"method": "m", "seed": 0}, train)
    assert len(calls) == 2 and record["key"]["numerics"] == "cpu-bf16"
    assert len(list(tmp_path.glob("m-*.json"))) == 2


def test_provenance_names_the_cpu_and_its_numerics():
    from lrlib.results import provenance

    meta = provenance("cpu", "cpu")
    assert meta["numerics"] in ("cpu-fp32", "cpu-bf16") and "cores" in meta["device"]


def test_the_run_cache_never_stores_a_diverged_run(tmp_path):
    from lrlib.results import RunCache

    cache, key = RunCache(tmp_path), {"method": "toy", "seed": 0}
    broken = torch.nn.Linear(2, 1)
    with torch.no_grad():
        broken.weight[0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"weights 'weight' hold NaN"):
        cache.train_or_load(key, lambda: (broken, {"accuracy": 0.5}), build=lambda: torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match=r"record\['loss'\]\[1\] is nan"):
        cache.train_or_load(key, lambda: (torch.nn.Linear(2, 1), {"loss": [8e4, float("nan")]}))
    assert list(tmp_path.iterdir()) == [] and cache.ledger()["runs"] == 0


def test_a_diverged_run_cached_before_is_set_aside_and_trained_again(tmp_path):
    from lrlib.results import RunCache

    cache, key = RunCache(tmp_path), {"method": "toy", "seed": 0}
    cache.train_or_load(key, lambda: (torch.nn.Linear(2, 1), {"accuracy": 0.5}), build=lambda: torch.nn.Linear(2, 1))
    record_file, weights_file = next(tmp_path.glob("toy-*.json")), next(tmp_path.glob("toy-*.pt"))
    broken = torch.nn.Linear(2, 1)
    with torch.no_grad():
        broken.bias[0] = float("inf")
    torch.save(broken.state_dict(), weights_file)  # what an older lrlib stored
    with pytest.warns(UserWarning, match=f"{weights_file.name} is damaged.*NaN or infinite"):
        assert RunCache(tmp_path).weights(key) is None
    record_file.write_text(json.dumps({"key": key, "accuracy": float("nan")}))
    with pytest.warns(UserWarning, match=f"{record_file.name} is damaged.*holds NaN"):
        assert RunCache(tmp_path).get(key) is None


def test_the_run_cache_stores_numpy_and_tensor_scalars_as_numbers_and_refuses_the_rest_first(tmp_path):
    import numpy as np

    from lrlib.results import RunCache

    key, trains = {"method": "toy", "seed": 0}, []
    losses = np.array([0.5, 0.25], dtype=np.float32)

    def train():
        trains.append(1)
        return torch.nn.Linear(2, 1), {"loss": np.mean(losses), "steps": np.int64(2), "acc": [torch.tensor(0.75)],
                                       "done": np.bool_(True)}

    record, _ = RunCache(tmp_path).train_or_load(key, train, build=lambda: torch.nn.Linear(2, 1))
    again, _ = RunCache(tmp_path).train_or_load(key, train, build=lambda: torch.nn.Linear(2, 1))
    assert len(trains) == 1  # loaded the second time, not trained again
    for r in (record, again):
        assert {k: r[k] for k in ("loss", "steps", "acc", "done")} == {"loss": 0.375, "steps": 2, "acc": [0.75],
                                                                        "done": True}
        assert type(r["loss"]) is float and type(r["steps"]) is int and type(r["acc"][0]) is float
    other = {"method": "toy", "seed": 1}
    with pytest.raises(TypeError, match=r"record\['curve'\] is a ndarray.*tolist"):
        RunCache(tmp_path).train_or_load(other, lambda: (torch.nn.Linear(2, 1), {"curve": losses}),
                                         build=lambda: torch.nn.Linear(2, 1))
    assert len(list(tmp_path.glob("*.pt"))) == 1  # no orphan weights for the refused run
