"""Beyond-accuracy metrics in benchmark configs and cells: names checked at load, the diversity attribute
read from the dataset's item file, the values reaching metrics.csv."""

from pathlib import Path

import polars as pl
import pytest

from recsys_cl.bench import grid, load_config
from recsys_cl.bench import run_cell
from recsys_cl.reporting import write_metrics_csv
from recsys_cl.data import prepare
from recsys_cl.errors import InputError

RAW = Path(__file__).parents[1] / "data" / "fixtures" / "hm_raw"

CONFIG = """
name: t
datasets:
  - {name: hm, source: hm, raw: %(raw)s}
models:
  - {model: pop}
metrics: [%(metrics)s]
ks: [2, 3]
%(beyond)s
"""


def config(tmp_path, metrics="ndcg, beyond", beyond="beyond: {diversity_attribute: product_type_name}"):
    path = tmp_path / "b.yaml"
    path.write_text(CONFIG % {"raw": RAW, "metrics": metrics, "beyond": beyond})
    return load_config(path)


def test_a_cell_reports_beyond_accuracy_metrics_and_csv_rows(tmp_path):
    prepare("hm", tmp_path / "data", raw=RAW)
    cfg = config(tmp_path)
    cell = next(grid(cfg))
    record, _ = run_cell(cell, cfg.model_dump_json(), str(tmp_path / "data" / "hm"), None)
    for name in ("coverage", "gini", "novelty", "avg_popularity", "tail_share", "seen_share", "diversity"):
        assert f"{name}@3" in record.summary, name
    assert "embedding_diversity@3" not in record.summary  # within "beyond": left out, no embeddings in a cell
    assert 0 <= record.summary["diversity@3"] <= 1
    write_metrics_csv([record.model_copy(update={"model": "pop", "embedding": "none"})], tmp_path / "metrics.csv")
    rows = pl.read_csv(tmp_path / "metrics.csv").filter(pl.col("segment") == "all")
    assert set(rows["metric"]) >= {"ndcg", "coverage", "gini", "novelty", "diversity"}

    missing = config(tmp_path, beyond="beyond: {diversity_attribute: colour}")
    with pytest.raises(InputError, match=r"diversity attribute 'colour': not a column of .*hm\.item"):
        run_cell(next(grid(missing)), missing.model_dump_json(), str(tmp_path / "data" / "hm"), None)


@pytest.mark.parametrize(
    "metrics, beyond, message",
    [
        ("ndcg, diversity", "", "metrics: metric 'diversity': needs beyond.diversity_attribute"),
        ("embedding_diversity", "", "metrics: metric 'embedding_diversity': not available in benchmark runs"),
        ("ndcg, serendipity", "", "metrics: unknown metric 'serendipity'"),
        ("ndcg", "beyond: {tail_ratio: -1}", "beyond.tail_ratio: Input should be greater than 0"),
    ],
)
def test_bad_metric_names_and_options_fail_at_load(tmp_path, metrics, beyond, message):
    with pytest.raises(InputError, match=message):
        config(tmp_path, metrics, beyond)
