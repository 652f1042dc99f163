"""Protocol given in configs: accepted, training items excluded by default, models named in mmrec.yaml valid."""

from pathlib import Path

import pytest

from recsys_cl.bench import load_config
from recsys_cl.errors import InputError

ROOT = Path(__file__).parents[2]


def test_mmrec_benchmark_config_loads():
    config = load_config(ROOT / "benchmarks" / "mmrec.yaml")
    assert config.protocols == ["given"] and config.exclude_seen("given") is True
    assert [m.label for m in config.models] == ["BPR", "LightGCN", "VBPR", "FREEDOM", "BM3"]
    assert config.ks == [10, 20] and config.metrics == ["recall", "ndcg"]


def test_given_is_refused_for_a_source_without_a_split(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: t\ndatasets:\n  - {name: ml-100k, source: ml-100k}\nprotocols: [given]\nmodels:\n  - {model: pop}\n")
    with pytest.raises(InputError, match=r"datasets\.0\.protocols: .*'given' keeps the split"):
        load_config(path)
