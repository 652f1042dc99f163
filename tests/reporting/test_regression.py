import numpy as np
import pytest

from recsys_cl.cli import main
from .conftest import N_USERS, write_run


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr()


@pytest.fixture
def baseline(tmp_path, fake_results, capsys):
    path = tmp_path / "base.json"
    code, _ = run_cli(["baseline", "save", str(fake_results), "--out", str(path), "--metrics", "ndcg@10"], capsys)
    assert code == 0
    return path


def current(tmp_path, als):
    return write_run(tmp_path / "cur", {("pop", "none"): np.full(N_USERS, 0.1), ("als", "none"): als,
                                        ("als", "txt"): np.full(N_USERS, 0.3), ("knn", "none"): np.full(N_USERS, 0.05)})  # fmt: skip


def test_same_run_passes(tmp_path, fake_results, baseline, capsys):
    code, captured = run_cli(["compare", str(fake_results), "--baseline", str(baseline)], capsys)
    assert code == 0 and "no regression" in captured.out


def test_real_drop_fails_with_exit_1(tmp_path, baseline, capsys):
    code, captured = run_cli(["compare", str(current(tmp_path, np.full(N_USERS, 0.25))), "--baseline", str(baseline)], capsys)
    assert code == 1 and "REGRESSED" in captured.out and "regression" in captured.err


def test_drop_within_tolerance_passes(tmp_path, baseline, capsys):
    code, captured = run_cli(["compare", str(current(tmp_path, np.full(N_USERS, 0.296))), "--baseline", str(baseline)], capsys)
    assert code == 0 and "REGRESSED" not in captured.out


def test_noisy_drop_beyond_tolerance_is_not_a_regression(tmp_path, baseline, capsys):
    # mean 3% lower, but all of it from 16 users moving both ways: the paired test cannot tell it from noise
    als = np.full(N_USERS, 0.3)
    als[:3] = 1.0
    als[3:16] = 0.0
    code, captured = run_cli(["compare", str(current(tmp_path, als)), "--baseline", str(baseline)], capsys)
    assert code == 0 and "noise" in captured.out and "-3.00%" in captured.out


def test_missing_variant_fails(tmp_path, baseline, capsys):
    run = write_run(tmp_path / "cur", {("pop", "none"): np.full(N_USERS, 0.1)})
    code, captured = run_cli(["compare", str(run), "--baseline", str(baseline)], capsys)
    assert code == 2 and "config differs in: models" in captured.err  # fewer models: another experiment
    code, captured = run_cli(["compare", str(run), "--baseline", str(baseline), "--allow-mismatch"], capsys)
    assert code == 1 and "MISSING" in captured.out


def test_bad_baseline_file_is_a_clear_error(tmp_path, fake_results, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code, captured = run_cli(["compare", str(fake_results), "--baseline", str(bad)], capsys)
    assert code == 2 and "not a baseline written by" in captured.err


VARIANTS = {("pop", "none"): np.full(N_USERS, 0.1), ("als", "none"): np.full(N_USERS, 0.3)}


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", "not a baseline written by `recsys-cl baseline save` (Input should be an object"),
        ('{"name": "x", "created": "t", "recsys_cl_version": "0", "metrics": ["ndcg@10"], "entries": [{"dataset": "ds"}]}',
         "entries.0.protocol: Field required"),
        ('{"name": "x", "created"', "not a baseline written by"),
    ],
)
def test_foreign_or_truncated_baseline_is_exit_2(tmp_path, fake_results, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, captured = run_cli(["compare", str(fake_results), "--baseline", str(bad)], capsys)
    lines = [line for line in captured.err.splitlines() if line.startswith("recsys-cl: error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0]


@pytest.mark.parametrize("broken", ["run.json", "cell"])
def test_truncated_run_or_cell_record_is_exit_2_naming_the_file(tmp_path, fake_results, baseline, capsys, broken):
    path = fake_results / "run.json" if broken == "run.json" else next((fake_results / "cells").glob("*.json"))
    path.write_text(path.read_text()[:40])
    for argv in (["compare", str(fake_results), "--baseline", str(baseline)], ["report", str(fake_results), "--out", str(tmp_path / "r")]):
        code, captured = run_cli(argv, capsys)
        assert code == 2 and f"{path}: not a valid" in captured.err and "Traceback" not in captured.err


def test_runs_from_other_seeds_config_or_data_are_refused_unless_allowed(tmp_path, capsys):
    models = [{"model": "pop"}, {"model": "als", "params": {"factors": 8}}]
    base_run = write_run(tmp_path / "base", VARIANTS, config={"seeds": [0], "models": models}, datasets={"ds": "aaa"})
    base = tmp_path / "base.json"
    assert run_cli(["baseline", "save", str(base_run), "--out", str(base)], capsys)[0] == 0
    other_seeds = write_run(tmp_path / "seeds", VARIANTS, config={"seeds": [1], "models": models}, datasets={"ds": "aaa"})
    other_data = write_run(tmp_path / "data", VARIANTS, config={"seeds": [0], "models": models}, datasets={"ds": "bbb"})
    changed = [models[0], {"model": "als", "params": {"factors": 16}}]
    other_models = write_run(tmp_path / "models", VARIANTS, config={"seeds": [0], "models": changed}, datasets={"ds": "aaa"})
    for run, said in ((other_seeds, "seeds differ: [0] vs [1]"), (other_data, "data of ds differs (fingerprint aaa vs bbb)"),
                      (other_models, "config differs in: models")):
        code, captured = run_cli(["compare", str(run), "--baseline", str(base)], capsys)
        assert code == 2 and said in captured.err and "not the same experiment" in captured.err
        code, captured = run_cli(["compare", str(run), "--baseline", str(base), "--allow-mismatch"], capsys)
        assert code == 0 and said in captured.err and "no regression" in captured.out


def test_float_rounding_is_no_difference(tmp_path, capsys):
    base_run = write_run(tmp_path / "base", VARIANTS)
    base = tmp_path / "base.json"
    run_cli(["baseline", "save", str(base_run), "--out", str(base), "--metrics", "ndcg@10"], capsys)
    # the same scores summed in another order: off by a few ulps for every user
    rounded = {k: v * (1 + 3e-16) + 1e-17 for k, v in VARIANTS.items()}
    code, captured = run_cli(["compare", str(write_run(tmp_path / "cur", rounded)), "--baseline", str(base)], capsys)
    rows = [line for line in captured.out.splitlines() if "als" in line]
    assert code == 0 and rows and all("1.000" in r and "+0.00%" in r and " ok " in r for r in rows)


def test_a_setting_added_by_a_later_version_is_reported_not_refused(tmp_path, capsys):
    base_run = write_run(tmp_path / "base", VARIANTS, config={"seeds": [0], "models": [{"model": "pop"}]})
    base = tmp_path / "base.json"
    run_cli(["baseline", "save", str(base_run), "--out", str(base)], capsys)
    newer = write_run(tmp_path / "cur", VARIANTS, config={"seeds": [0], "models": [{"model": "pop", "search": {}}], "tuning": {}})
    code, captured = run_cli(["compare", str(newer), "--baseline", str(base)], capsys)
    assert code == 0 and "config keys only one run knows" in captured.err and "models.0.search, tuning" in captured.err
