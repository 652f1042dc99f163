"""benchmarks/reference.yaml: what it runs (checked on every test run), and, once a real run has produced
results/baselines/reference.json, that a re-run matches it (slow: hours on 2 cores)."""

import os
from collections import Counter
from pathlib import Path

import pytest

from recsys_cl.bench import load_config
from recsys_cl.bench._plan import grid, study_plans
from recsys_cl.bench._config import check_spaces
from recsys_cl.cli import main

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "benchmarks" / "reference.yaml"
BASELINE = ROOT / "results" / "baselines" / "reference.json"


def test_reference_config_tunes_every_variant_alike_on_the_promised_grid():
    config = load_config(CONFIG)
    check_spaces(config, str(CONFIG))
    tuning = config.tuning
    assert tuning.trials >= 16 and tuning.pruner == "median" and tuning.refit == "train+valid" and tuning.compare_default
    assert config.seeds == [0, 1, 2]
    plans = study_plans(config)
    groups = Counter((p.dataset, p.protocol) for p in plans)
    # ml-100k: loo and cold-item; the synthetic H&M sample: loo, cold-item and the competition's week
    assert set(groups) == {("ml-100k", "loo"), ("ml-100k", "cold-item"), ("hm-synth", "loo"), ("hm-synth", "cold-item"),
                           ("hm-synth", "temporal")}  # fmt: skip
    assert len(plans) == 92 and len(list(grid(config))) == 92 * 3
    models = {p.model.model for p in plans}
    assert {"ease", "rp3beta", "slim", "itemknn", "bm3", "two-stage"} <= models
    assert config.exclude_seen("temporal") is False


@pytest.mark.slow
@pytest.mark.skipif(not BASELINE.is_file(), reason="results/baselines/reference.json comes from a real run of reference.yaml")
def test_reference_run_matches_the_committed_baseline(tmp_path, capsys):
    # a persistent folder (RECSYS_CL_REFERENCE_OUT) resumes across sessions; hours on 2 cores from scratch
    out = Path(os.environ.get("RECSYS_CL_REFERENCE_OUT", tmp_path / "reference"))
    with pytest.raises(SystemExit) as bench:
        main(["bench", str(CONFIG), "--out", str(out), "--jobs", "2"])
    assert bench.value.code == 0
    with pytest.raises(SystemExit) as compare:
        main(["compare", str(out), "--baseline", str(BASELINE), "--rtol", "0.02"])
    captured = capsys.readouterr()
    assert compare.value.code == 0, captured.out + captured.err
    assert "MISSING" not in captured.out and "no regression" in captured.out
