"""The example plugin (examples/plugin) really installed, found through its entry points, checked by the
test kit and run in a benchmark; and a broken plugin is one line, exit 2, that breaks no built-in.

The plugin is installed with pip into a temporary folder (``--target``; a copy of its source, so the build
leaves nothing in the repository) that is put first on the path, as an installed package would be."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.data import SOURCES
from recsys_cl.embeddings import LEARNERS
from recsys_cl.errors import InputError
from recsys_cl.models import MODELS, create

from docs_run import REPO, env_with, pip_install_target

EXAMPLE = REPO / "examples" / "plugin"
DISTRIBUTION = "recsys-cl-example-plugin"


def recsys_cl(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys_cl.cli", *args], env=env, cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("plugin") / "site"
    pip_install_target(EXAMPLE, site)
    return site


@pytest.fixture
def plugin_on_path(installed, monkeypatch):
    """The installed plugin importable in this process, the registries rediscovering; all undone after."""
    monkeypatch.syspath_prepend(str(installed))
    with MODELS.restoring(), LEARNERS.restoring():
        MODELS.rediscover()
        LEARNERS.rediscover()
        yield installed
    for name in [m for m in sys.modules if m.startswith("recsys_cl_example")]:
        del sys.modules[name]


def test_the_installed_plugin_is_found_by_name_with_its_distribution(plugin_on_path):
    assert "cooccurrence" in MODELS and "text-pca" in LEARNERS
    assert "recsys_cl_example" not in sys.modules  # found from the metadata, imported only when named
    model = create("cooccurrence", normalise=False)
    assert model.run_name == "cooccurrence(normalise=False)" and "recsys_cl_example.model" in sys.modules
    origin = MODELS.origin("cooccurrence")
    assert (origin.distribution, origin.version, origin.entry_point) == (DISTRIBUTION, "0.1.0", "recsys_cl_example.model:CoOccurrence")
    assert str(LEARNERS.origin("text-pca")) == f"plugin {DISTRIBUTION} 0.1.0 (recsys_cl_example.learner:TextPCA)"


def test_the_plugin_runs_in_a_benchmark_beside_builtins(plugin_on_path, tmp_path):
    """Named in a YAML like a built-in: validated (its typed config refuses unknown keys), run, scored."""
    config_path = tmp_path / "b.yaml"
    config_path.write_text((EXAMPLE / "bench.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_path.read_text().replace("{model: cooccurrence}", "{model: cooccurrence, params: {normalize: true}}"))
    with pytest.raises(InputError, match=r"bad\.yaml: models\.1\.params\.normalize: Extra inputs are not permitted"):
        load_config(bad)
    config = load_config(config_path)
    config = config.model_copy(update={"embeddings": [], "models": config.models[:2]})  # the learner: the slow test
    run_benchmark(config, tmp_path / "out")
    metrics = pl.read_csv(tmp_path / "out" / "metrics.csv").filter((pl.col("segment") == "all") & (pl.col("metric") == "hr"))
    hr = dict(zip(metrics["model"], metrics["value"]))
    assert set(hr) == {"pop", "cooccurrence"}
    assert hr["cooccurrence"] > hr["pop"], hr  # MovieLens-100K, loo: 0.103 against 0.083


def test_a_broken_plugin_is_one_line_exit_2_and_breaks_no_builtin(installed, tmp_path):
    broken = tmp_path / "broken-site"
    info = broken / "recsys_cl_broken-1.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: recsys-cl-broken\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[recsys_cl.models]\nhalf-done = recsys_cl_broken:HalfDone\n")
    (broken / "recsys_cl_broken.py").write_text("import a_module_nobody_installed\n")
    env = env_with(broken, installed)
    listed = recsys_cl(["plugins", "--json"], env, tmp_path)
    assert listed.returncode == 2 and "Traceback" not in listed.stderr
    error = [line for line in listed.stderr.splitlines() if line.strip()]
    assert len(error) == 1 and error[0].startswith("recsys-cl: error: plugin 'half-done' of recsys-cl-broken 1.2 "
                                                   "(entry point recsys_cl.models: half-done = recsys_cl_broken:HalfDone): "
                                                   "cannot be imported: ModuleNotFoundError"), listed.stderr  # fmt: skip
    listed_rows = json.loads(listed.stdout)
    rows = {row["name"]: row for row in listed_rows}
    assert rows["cooccurrence"]["distribution"] == DISTRIBUTION and rows["cooccurrence"]["problem"] is None
    assert rows["pop"]["builtin"] and rows["hm"]["builtin"] and rows["half-done"]["problem"]
    assert len([r for r in listed_rows if r["builtin"]]) == sum(
        len(registry.builtin_items()) for registry in (MODELS, LEARNERS, SOURCES)
    )
