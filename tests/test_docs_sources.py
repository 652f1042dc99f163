"""docs/your-data.md and docs/literature-datasets.md: their ```bash commands run as written (in a temporary folder
that holds a copy of the test fixtures they name, and the YAML files they show, each named by its first line)."""

import shlex
import shutil
from pathlib import Path

import pytest

from tests.docs_pages import bash_commands, yaml_blocks

FIXTURES = Path(__file__).parent / "data" / "fixtures"


def write_yaml_blocks(page, folder):
    for block in yaml_blocks(page):
        first = block.splitlines()[0]
        if first.startswith("# ") and first.endswith((".yaml", ".yml")):
            (folder / first[2:].strip()).write_text(block)


@pytest.mark.parametrize("page", ["your-data.md", "literature-datasets.md"])
def test_page_commands_run_as_written(page, tmp_path, monkeypatch, cli):
    for name in ("table_raw", "recbole_raw", "mmrec_raw"):
        shutil.copytree(FIXTURES / name, tmp_path / "tests" / "data" / "fixtures" / name)
    shutil.copytree(Path(__file__).parents[1] / "benchmarks" / "published", tmp_path / "benchmarks" / "published")
    write_yaml_blocks(page, tmp_path)
    monkeypatch.chdir(tmp_path)
    commands = bash_commands(page)
    assert commands
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "recsys-cl", command
        code, out, err = cli(argv[1:])
        assert code in (0, None), f"{command}\n{out}\n{err}"
    if page == "literature-datasets.md":  # the demo's report sets its numbers beside MMRec's published Baby ones
        report = (tmp_path / "reports" / "mmrec-demo" / "report.md").read_text()
        section = report[report.index("## Published numbers beside ours"):]
        vbpr = next(line for line in section.splitlines() if line.startswith("| baby | given | VBPR"))
        assert "| 0.0663 |" in vbpr and "| 0.0284 |" in vbpr  # published Recall@20 and NDCG@20 of VBPR on Baby
        assert "evaluation/README.md" in section
