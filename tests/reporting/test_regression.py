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
    assert code == 1 and "MISSING" in captured.out


def test_bad_baseline_file_is_a_clear_error(tmp_path, fake_results, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code, captured = run_cli(["compare", str(fake_results), "--baseline", str(bad)], capsys)
    assert code == 2 and "not a baseline written by" in captured.err
