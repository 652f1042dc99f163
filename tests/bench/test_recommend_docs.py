"""docs/recommendations.md: its ```bash commands run as written (in a temporary folder, on its YAML config)."""

from __future__ import annotations

import json
import shlex

import polars as pl

from tests.docs_pages import bash_commands, yaml_blocks

PAGE = "recommendations.md"


def test_the_pages_commands_run_as_written(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-benchmark.yaml").write_text(yaml_blocks(PAGE)[0])
    commands = bash_commands(PAGE)
    assert len(commands) == 5 and all(c.startswith("recsys-cl ") for c in commands)
    outputs = []
    for command in commands:
        code, stdout, stderr = cli(shlex.split(command)[1:])
        assert code == 0, f"{command}\n{stderr}"
        outputs.append(stdout)
    # the page says: the train-fitted lists score as the benchmark's ALS cell (map@12 as printed by both)
    cell = next(json.loads(p.read_text()) for p in (tmp_path / "results" / "my-benchmark" / "cells").glob("*.json")
                if json.loads(p.read_text())["label"] == "ALS")
    assert f"{cell['summary']['map@12']:.4f}" in outputs[2]
    lists = pl.read_parquet(tmp_path / "recs" / "als-all" / "recommendations.parquet")
    assert lists.group_by("user_id").len()["len"].max() == 20
    record = json.loads((tmp_path / "recs" / "als-all" / "recommend.json").read_text())
    assert record["fit_on"] == "all" and record["fitted"]["last_day"] > json.loads(
        (tmp_path / "recs" / "als-train" / "recommend.json").read_text())["fitted"]["last_day"]
    sub = pl.read_csv(tmp_path / "submissions" / "repurchase" / "submission.csv", infer_schema=False)
    assert sub.columns == ["customer_id", "prediction"] and sub.height == 200
