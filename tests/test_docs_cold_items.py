"""docs/cold-items.md: the benchmark configs and modules it names exist, and the configs are valid."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from recsys_cl.bench._config import BenchmarkConfig
from tests.docs_pages import DOCS

ROOT = Path(__file__).parents[1]
PAGE = (DOCS / "cold-items.md").read_text(encoding="utf-8")


def test_every_benchmark_config_the_page_names_is_valid() -> None:
    configs = sorted(set(re.findall(r"benchmarks/[\w.-]+\.yaml", PAGE)))
    assert "benchmarks/cold-items-ml100k.yaml" in configs
    for name in configs:
        BenchmarkConfig.model_validate(yaml.safe_load((ROOT / name).read_text(encoding="utf-8")))


def test_every_module_the_page_names_exists() -> None:
    for module in set(re.findall(r"recsys_cl/[\w/]+\.py", PAGE)):
        assert (ROOT / module).is_file(), module
