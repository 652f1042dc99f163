"""Labels and names from a config reach report.md as text: what a Markdown renderer would run or follow
(HTML, links, images, code spans, table separators, line breaks) is escaped."""

import re

import numpy as np

from recsys_cl.reporting._table import Table, markdown_text

from .conftest import N_USERS, write_run

HOSTILE = '<img src=x onerror=alert(1)>[click](javascript:alert(1))|`x`\n# heading'


def test_labels_reach_markdown_escaped(tmp_path, cli):
    table = Table(HOSTILE, ["model", HOSTILE], [[HOSTILE, "0.1"]], bold={(0, 1)}, note=HOSTILE)
    md = table.to_markdown()
    for raw in ("<img", "`x`", "|`", "\n# heading"):
        assert raw not in md
    assert not re.search(r"(?<!\\)\]\(javascript", md) and r"\[click\](javascript" in md  # a literal, not a link
    assert md.count("\n| ") == 2  # header and one row: the label's '|' and newline made no new cells or rows
    assert markdown_text("R&D <b>") == "R&amp;D &lt;b&gt;"

    run = write_run(tmp_path / "run", {("pop", "none"): np.full(N_USERS, 0.1), ("als", "none"): np.full(N_USERS, 0.3)},
                    name=HOSTILE)  # fmt: skip
    code, _, err = cli(["report", str(run), "--out", str(tmp_path / "rep"), "--resamples", "20"])
    assert code == 0, err
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "<img" not in report and not re.search(r"(?<!\\)\]\(javascript", report) and "# recsys-cl report: &lt;img" in report


def test_the_run_line_of_a_plain_name_has_no_escapes_to_show(tmp_path, cli):
    """The run line is prose: a renderer shows an escaped backtick as a literal ` (it once did)."""
    run = write_run(tmp_path / "run", {("pop", "none"): np.full(N_USERS, 0.1)}, name="reference-ml-100k-cf")
    code, _, err = cli(["report", str(run), "--out", str(tmp_path / "rep"), "--resamples", "20"])
    assert code == 0, err
    line = next(x for x in (tmp_path / "rep" / "report.md").read_text().splitlines() if x.startswith("Run "))
    assert line.startswith("Run reference-ml-100k-cf: ") and "\\" not in line
