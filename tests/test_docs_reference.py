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
    cells, run_now, seconds = facts["cells"], facts.get("cells_run_now", facts["cells"]), facts["last_invocation_seconds"]
    if run_now == cells:
        assert f"{cells} final cells {seconds:.0f} s" in section
    else:  # a last invocation that ran some cells again: how many of them, in how long
        assert f"{run_now} of the {cells} final cells again in {seconds:.0f} s" in section
    assert f"{facts['machine']['cores']} CPU cores" in section


@pytest.mark.parametrize("path", PUBLISHED, ids=[p.parent.name for p in PUBLISHED])
def test_the_pages_table_is_the_seed_mean_of_the_published_metrics(path):
    """One table per protocol: under a ``### <protocol>`` heading where the part has several, else the
    section's only table."""
    part = path.parent.name
    values = defaultdict(list)
    with open(path.parent / "metrics.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["metric"] == "ndcg" and row["k"] == "10" and row["segment"] == "all":
                values[(row["protocol"], row["label"])].append(float(row["value"]))
    means = {key: sum(v) / len(v) for key, v in values.items()}
    protocols = sorted({protocol for protocol, _ in means})
    section = PAGE.read_text(encoding="utf-8").split(f"## {part}\n", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, list[str]] = defaultdict(list)
    protocol = protocols[0] if len(protocols) == 1 else None
    for line in section.splitlines():
        if line.startswith("### ") and len(protocols) > 1:
            protocol = line[4:].strip().strip("`")
        elif line.startswith("| ") and "---" not in line:
            assert protocol in protocols, f"{part}: a table outside a protocol's heading ({protocols})"
            tables[protocol].append(line)
    assert sorted(tables) == protocols
    checked = 0
    for protocol, lines in tables.items():
        for line in lines[1:]:  # after the header
            cells = [c.strip() for c in line.strip("|").split("|")]
            for model, tuned, default in (cells[0:3], cells[3:6]):
                if not model:
                    continue
                for label, shown in ((model, tuned), (f"{model} [default]", default)):
                    number = re.search(r"\d\.\d{4}", shown)
                    if number:
                        assert f"{means[(protocol, label)]:.4f}" == number.group(), (protocol, label)
                        checked += 1
    assert checked == len(means)  # every variant of the part is in a table, once
