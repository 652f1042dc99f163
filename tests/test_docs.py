"""The docs site builds with warnings as errors, and its generated reference pages cover the code.

The reference pages are written from the code at build time (docs/_scripts/reference.py), so they are
complete by construction; these tests check that the generator keeps reading what the code registers (a
renamed registry or a new command group it does not walk fails here) and that the site builds offline.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from tests.docs_pages import yaml_blocks

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "docs" / "_scripts" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_paths() -> list[str]:
    """Every command of the typer app, groups included, as ``recsys-cl data synth hm``."""
    from recsys_cl.cli import app

    paths = []

    def walk(command, path: str) -> None:
        paths.append(path)
        if hasattr(command, "list_commands"):  # a group (typer's own click, so no isinstance against click's)
            ctx = typer.Context(command, info_name=path)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), f"{path} {name}")

    walk(typer.main.get_command(app), "recsys-cl")
    return paths


def test_cli_reference_has_every_command_and_option(reference):
    page = reference.cli_page()
    headings = reference.headings(page)
    paths = command_paths()
    assert len(paths) > 15
    for path in paths[1:]:
        assert f"`{path}`" in headings, path
    assert "* `--raw <" in page  # options with their types, e.g. bench's --raw NAME=PATH
    assert "ROOT/&lt;name&gt;" in page  # help text's ROOT/<name> escaped, not eaten as an HTML tag


def test_models_reference_has_every_registered_model_with_its_space(reference):
    from recsys_cl.models._spaces import DEFAULT_SPACES

    page = reference.models_page()
    headings = reference.headings(page)
    models = reference.registry_items(reference.model_registry())
    assert len(models) > 20
    for name, cls in models:
        assert name in headings, name
        section = page.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for field in cls.Config.model_fields:
            assert f"| `{field}` |" in section, (name, field)
        for param, spec in DEFAULT_SPACES[name].space.items() if name in DEFAULT_SPACES else []:
            assert spec.describe() in section.split(f"| `{param}` |", 1)[1].split("\n", 1)[0], (name, param)
    assert "| `factors` | int | `64` |" in page.split("\n## implicit-als\n", 1)[1]


def test_config_reference_has_every_key_source_and_method(reference):
    from recsys_cl.bench import BenchmarkConfig
    from recsys_cl.data import SOURCES
    from recsys_cl.embeddings import LEARNERS

    page = reference.config_page()
    for key in BenchmarkConfig.model_fields:
        assert f"| `{key}` |" in page, key
    headings = reference.headings(page)
    for name in SOURCES:
        assert f"source `{name}`" in headings, name
    for name in LEARNERS:
        assert f"method `{name}`" in headings, name
    assert "`tuning`" in headings and "`models[].search`" in headings


def test_metrics_and_python_references_name_every_public_name(reference):
    import recsys_cl.evaluation as evaluation

    metrics = reference.metrics_page()
    for name in evaluation.METRICS + evaluation.BEYOND_METRICS:
        assert f"`{name}`" in metrics, name
    python = reference.python_page()
    packages = reference.public_packages()
    assert packages[:2] == ["recsys_cl.data", "recsys_cl.embeddings"] and "recsys_cl.reporting" in packages
    for package in packages:
        for name in getattr(__import__(package, fromlist=["__all__"]), "__all__", []):
            assert f"| `{name}` |" in python, (package, name)


def test_benchmark_page_config_loads(tmp_path):
    from recsys_cl.bench import grid, load_config

    blocks = yaml_blocks("benchmarks.md")
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.yaml"
        path.write_text(block, encoding="utf-8")
        assert list(grid(load_config(path)))


def test_site_builds_strictly_offline(tmp_path):
    """``mkdocs build --strict``: a broken link or anchor, a page missing from the nav, or a generator error fails."""
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "report.png" in home and "Use it from Python" in home  # the README is the home page
    assert "fonts.googleapis.com" not in home  # nothing fetched when a page opens
    for page in ("reference/cli", "reference/config", "reference/models", "reference/metrics", "changelog", "errors"):
        assert (site / page / "index.html").is_file(), page
    assert "two-stage" in (site / "reference" / "models" / "index.html").read_text(encoding="utf-8")


def _shown_commands() -> list[tuple[str, str]]:
    """(page, command line) of every ``recsys-cl`` command shown in README.md and the hand-written docs pages."""
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for page in pages:
        for block in re.findall(r"^```(?:bash|shell)[^\n]*\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                if "recsys-cl " in line:
                    found.append((page.name, line.split(" #")[0].strip()))
    return found


def test_commands_shown_in_the_docs_exist_with_their_options():
    """Every ``recsys-cl`` command line the README and guides show names a real command and real options."""
    import shlex

    from recsys_cl.cli import app

    shown = _shown_commands()
    assert len(shown) > 10
    for page, line in shown:
        tokens = shlex.split(line)
        tokens = tokens[next(i for i, t in enumerate(tokens) if t.endswith("recsys-cl")) + 1 :]
        command = typer.main.get_command(app)
        while hasattr(command, "list_commands") and tokens and not tokens[0].startswith("-"):
            sub = command.get_command(typer.Context(command), tokens[0])
            assert sub is not None, f"{page}: {line}: no command {tokens[0]!r}"
            command, tokens = sub, tokens[1:]
        params = command.get_params(typer.Context(command))  # --help included
        options = {opt for param in params for opt in (*param.opts, *param.secondary_opts)}
        for token in tokens:
            if token.startswith("--"):
                assert token.split("=")[0] in options, f"{page}: {line}: {token.split('=')[0]} is not an option of it"
