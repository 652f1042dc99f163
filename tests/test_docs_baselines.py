"""docs/baselines.md stays true: its benchmark YAML loads, its search-space table is the default table's rows
for these models, and its quoted refusal is the message EASE gives."""

from __future__ import annotations

import re

import pytest

from recsys_cl.bench import load_config
from recsys_cl.models import _linear, create
from recsys_cl.models._spaces import DEFAULT_SPACES

from docs_pages import DOCS, yaml_blocks

PAGE = "baselines.md"
MODELS = ("itemknn", "rp3beta", "ease", "slim")


def test_the_benchmark_yaml_loads_and_tunes_every_baseline(tmp_path):
    (block,) = yaml_blocks(PAGE)
    path = tmp_path / "baselines.yaml"
    path.write_text(block, encoding="utf-8")
    config = load_config(path)
    assert [m.model for m in config.models] == ["pop", *MODELS]
    assert config.tuning is not None and config.tuning.trials >= 16 and config.tuning.refit == "train+valid"


def test_the_space_table_is_the_default_table():
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    shown = re.findall(r"^\|\s*([\w-]*)\s*\|\s*`(\w+)`\s*\|([^|]+)\|$", text, re.M)
    expected = []
    for name in MODELS:
        for i, (param, spec) in enumerate(DEFAULT_SPACES[name].space.items()):
            expected.append((name if i == 0 else "", param, spec.describe()))
    assert [(m, p, r.strip()) for m, p, r in shown] == expected


def test_the_quoted_refusal_is_the_models(monkeypatch):
    text = " ".join((DOCS / PAGE).read_text(encoding="utf-8").split())
    monkeypatch.setattr(_linear, "available_bytes", lambda: 21e9)
    model = create("ease")
    refusal = model.cannot_fit(model.config, 1_371_980, 105_542)
    assert refusal and refusal in text
