"""docs/your-vectors.md and docs/your-model.md run as written (see ``docs_run`` for the three words mapped
onto the test environment): their ```bash commands in a temporary folder, the files the page asks to
save written from its own ```python / ```yaml blocks, and the output the page shows checked."""

from __future__ import annotations

import re
import shutil

import polars as pl
import pytest

from docs_pages import DOCS, bash_commands, yaml_blocks
from docs_run import REPO, run_commands


def python_blocks(page: str) -> list[str]:
    return re.findall(r"^```python[^\n]*\n(.*?)^```", (DOCS / page).read_text(encoding="utf-8"), re.S | re.M)


def hr_at_10(results) -> dict[str, float]:
    metrics = pl.read_csv(results / "metrics.csv")
    hr = metrics.filter((pl.col("segment") == "all") & (pl.col("metric") == "hr") & (pl.col("k") == 10))
    return dict(zip(hr["label"], hr["value"]))


@pytest.mark.slow
def test_your_vectors_page_runs_as_written(tmp_path):
    commands = bash_commands("your-vectors.md")
    assert commands[1] == "python make_vectors.py" and commands[-1].startswith("recsys-cl bench vectors.yaml")
    (tmp_path / "make_vectors.py").write_text(python_blocks("your-vectors.md")[0])  # "Save it as make_vectors.py"
    (tmp_path / "vectors.yaml").write_text(yaml_blocks("your-vectors.md")[0])  # "save this as vectors.yaml"
    done = run_commands(commands, tmp_path, tmp_path / "site")
    embed_output = done[2].stdout
    page = (DOCS / "your-vectors.md").read_text(encoding="utf-8")
    for line in ("wrote genres.itememb (1,682 items x 19) and genres.itememb.quality.json",
                 "read 1,682 vectors from vectors.parquet: 1,682 matched the catalogue, 0 items zero-filled, 0 rows unused"):
        assert line in embed_output and line in page
    hr = hr_at_10(tmp_path / "results" / "my-vectors")
    assert set(hr) == {"Pop", "content-kNN + genres"}


@pytest.mark.slow
def test_your_model_page_runs_as_written(tmp_path):
    """The example plugin as its author would: install, list, its contract tests, its benchmark."""
    shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    commands = bash_commands("your-model.md")
    assert commands == ["pip install ./examples/plugin", "recsys-cl plugins", "pytest examples/plugin/tests",
                        "recsys-cl bench examples/plugin/bench.yaml --out results/plugin-example"]  # fmt: skip
    bench_yaml = (REPO / "examples" / "plugin" / "bench.yaml").read_text().splitlines(keepends=True)
    assert yaml_blocks("your-model.md")[0] == "".join(line for line in bench_yaml if not line.startswith("#"))
    done = run_commands(commands, tmp_path, tmp_path / "site")
    listed = done[0].stdout
    assert "plugin recsys-cl-example-plugin 0.1.0 (recsys_cl_example.model:CoOccurrence)" in listed
    assert "plugin recsys-cl-example-plugin 0.1.0 (recsys_cl_example.learner:TextPCA)" in listed
    assert " passed" in done[1].stdout and "failed" not in done[1].stdout
    hr = hr_at_10(tmp_path / "results" / "plugin-example")
    assert set(hr) == {"Pop", "cooccurrence", "content-kNN + pca"}
    assert hr["cooccurrence"] > hr["Pop"]
    page = (DOCS / "your-model.md").read_text(encoding="utf-8")
    for label, value in hr.items():  # the figures the page shows are the ones this run gives
        assert re.search(rf"│ {re.escape(label)} +│ {value:.4f} │", page), (label, value)
