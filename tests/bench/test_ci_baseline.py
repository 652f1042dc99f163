"""CI's regression check: the tiny benchmark must match the committed baseline (results/baselines/ci.json)."""

from pathlib import Path

import pytest

from recsys_cl.cli import main

ROOT = Path(__file__).parents[2]


def test_ci_benchmark_matches_committed_baseline(tmp_path, capsys):
    out = tmp_path / "ci"
    with pytest.raises(SystemExit) as bench:
        main(["bench", str(ROOT / "benchmarks" / "ci.yaml"), "--out", str(out)])
    assert bench.value.code == 0
    with pytest.raises(SystemExit) as compare:
        main(["compare", str(out), "--baseline", str(ROOT / "results" / "baselines" / "ci.json"), "--rtol", "0.02"])
    captured = capsys.readouterr()
    assert compare.value.code == 0, captured.out + captured.err
    assert "MISSING" not in captured.out and "no regression" in captured.out
