"""The published-numbers table a config names: checked when the config is loaded."""

import pytest

from recsys_cl.bench import load_config
from recsys_cl.errors import InputError
from recsys_cl.reporting import read_published

CONFIG = """
name: t
datasets:
  - {name: ml-100k, source: ml-100k}
models:
  - {model: pop}
published: published.csv
"""


def test_published_table_is_read_and_checked(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "published.csv").write_text("dataset,model,recall@20,source\nml-100k,Pop,0.1,paper\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.published == str((tmp_path / "published.csv").resolve())
    assert read_published(config.published)["recall@20"].to_list() == [0.1]
    (tmp_path / "published.csv").write_text("dataset,model,recall@20,source\nml-100k,Pop,high,paper\n")
    with pytest.raises(InputError, match=r"c\.yaml: published: .*published\.csv:2: column recall@20: 'high' is not a number"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "published.csv").write_text("dataset,model,recall@20\nml-100k,Pop,0.1\n")
    with pytest.raises(InputError, match=r"published\.csv:1: missing column\(s\) source"):
        load_config(tmp_path / "c.yaml")


def test_the_repository_table_names_its_source_for_every_row():
    from pathlib import Path

    table = read_published(Path(__file__).parents[2] / "benchmarks" / "published" / "mmrec.csv")
    assert table.height == 11 and table["source"].str.contains("MMRec evaluation/README.md").sum() == 10
    assert table.filter(table["dataset"] == "clothing")["recall@20"].is_null().all()  # not found: left empty
    assert table.filter((table["dataset"] == "sports") & (table["model"] == "FREEDOM"))["recall@20"].item() == 0.1089


def test_a_published_file_missing_where_the_report_is_written_is_said_not_fatal(tmp_path):
    from types import SimpleNamespace

    from recsys_cl.reporting import Results, published_table

    results = Results(tmp_path, SimpleNamespace(config={"published": str(tmp_path / "gone.csv")}), [])
    table = published_table(results)
    assert table.rows == [] and "gone.csv: not found where this report was written" in table.note
    assert published_table(Results(tmp_path, SimpleNamespace(config={}), [])) is None
