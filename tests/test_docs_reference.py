"""docs/reference-results.md says what the published reference parts hold: its facts and its table are
checked against the records published beside it (a re-publish that changes a number fails here until the
page says the new one)."""

import csv
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "reference-results.md"
PUBLISHED = sorted((ROOT / "docs" / "reference-results").glob("*/published.json"))


def test_every_published_part_is_in_the_page_the_nav_and_has_its_baseline():
    text, nav = PAGE.read_text(encoding="utf-8"), (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert PUBLISHED, "no published part"
    for path in PUBLISHED:
        part = path.parent.name
        assert f"| [{part}](reference-results/{part}/report.md) |" in text and f"reference-results/{part}/report.md" in nav
        assert (ROOT / "results" / "baselines" / f"reference-{part}.json").is_file()
        assert (ROOT / "benchmarks" / "reference" / f"{part}.yaml").is_file()


@pytest.mark.parametrize("path", PUBLISHED, ids=[p.parent.name for p in PUBLISHED])
def test_the_page_gives_each_parts_commit_cells_and_run_time(path):
    facts = json.loads(path.read_text(encoding="utf-8"))
    section = PAGE.read_text(encoding="utf-8").split(f"## {facts['part']}\n", 1)[1].split("\n## ", 1)[0]
    assert f"Commit `{facts['git_commit'][:7]}`" in section
    assert f"finished {facts['finished'].split()[1]} UTC" in section
    assert f"{facts['trials']} trials in {facts['studies']} studies took {facts['tuning_trial_seconds']:.0f} s" in section
    assert f"{facts['cells']} final cells {facts['last_invocation_seconds']:.0f} s" in section
    assert f"{facts['machine']['cores']} CPU cores" in section


@pytest.mark.parametrize("path", PUBLISHED, ids=[p.parent.name for p in PUBLISHED])
def test_the_pages_table_is_the_seed_mean_of_the_published_metrics(path):
    part = path.parent.name
    values = defaultdict(list)
    with open(path.parent / "metrics.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["metric"] == "ndcg" and row["k"] == "10" and row["segment"] == "all":
                values[row["label"]].append(float(row["value"]))
    means = {label: sum(v) / len(v) for label, v in values.items()}
    section = PAGE.read_text(encoding="utf-8").split(f"## {part}\n", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    checked = 0
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for model, tuned, default in (cells[0:3], cells[3:6]):
            if not model:
                continue
            for label, shown in ((model, tuned), (f"{model} [default]", default)):
                number = re.search(r"\d\.\d{4}", shown)
                if number:
                    assert f"{means[label]:.4f}" == number.group(), label
                    checked += 1
    assert checked == len(means)  # every variant of the part is in the table, once
