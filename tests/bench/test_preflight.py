"""Pre-flight: an entry that cannot fit the prepared data (EASE's dense item x item matrix against the memory
available) is refused after the data is prepared and before any study, embedding or cell starts, naming
the entry (position and label), with EASE's own message; exit code 2 from the CLI. ``max_items`` (EASE's
bounded variant) changes the need, and so the answer.

The memory probe is monkeypatched: the synthetic shop's 30 articles need 2 x 4 x 30^2 = 7,200 bytes at peak.
"""

from __future__ import annotations

import re

import pytest

from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.bench._preflight import check_entries_fit, dataset_counts
from recsys_cl.bench._recommend import recommend_for_config
from recsys_cl.bench._tuning import tune_benchmark
from recsys_cl.data import load_dataset
from recsys_cl.errors import InputError
from recsys_cl.models import _linear

CONFIG = """
name: pf
datasets:
  - {name: syn, source: hm-synth, synth: {customers: 40, articles: 30, weeks: 3, images: false}}
protocols: [loo]
models:
  - {model: pop}
  - {model: ease%(ease)s}
ks: [5]
tuning: {trials: 1, pruner: none, metric: ndcg@5}
"""
REFUSAL = r"^models\.1 \(EASE\) on syn/loo: ease: 30 items need a 30 x 30 float32 matrix .* Set max_items: 10 or less"


@pytest.fixture()
def small_memory(monkeypatch):
    monkeypatch.setattr(_linear, "available_bytes", lambda: 800.0)  # room for 100 float32 pairs: 10 items
    monkeypatch.setattr(_linear, "ease_weights", lambda *a: pytest.fail("EASE started although it must be refused"))


def config_file(tmp_path, ease: str = ""):
    path = tmp_path / "pf.yaml"
    path.write_text(CONFIG % {"ease": ease})
    return path


def test_bench_refuses_before_any_study_or_cell(tmp_path, small_memory, monkeypatch):
    from recsys_cl.bench import _tuning

    monkeypatch.setattr(_tuning, "tune_model", lambda **_: pytest.fail("a study started"))
    out = tmp_path / "out"
    with pytest.raises(InputError, match=REFUSAL):
        run_benchmark(load_config(config_file(tmp_path)), out)
    assert not any((out / "cells").iterdir()) and not (out / "tuning").exists() and not (out / "run.json").exists()
    assert not (out / "embeddings").exists()
    # the data was prepared: its counts are what is checked (the split's own, or an upper bound of them)
    encoded = load_dataset(out / "data" / "atomic" / "syn").encoded("loo")
    assert dataset_counts(out / "data" / "atomic" / "syn") == (encoded.n_users, encoded.n_items)
    assert encoded.n_items == 30  # the message above names 30 items


def test_tune_and_recommend_refuse_too(tmp_path, small_memory):
    config = load_config(config_file(tmp_path))
    with pytest.raises(InputError, match=REFUSAL):
        tune_benchmark(config, tmp_path / "out")
    assert not (tmp_path / "out" / "tuning").exists()
    with pytest.raises(InputError, match=REFUSAL.replace("30 items", r"\d+ items").replace("30 x 30", r"\d+ x \d+")):
        recommend_for_config(config, tmp_path / "lists", model="EASE", run_dir=tmp_path / "out", fit_on="train")
    assert not (tmp_path / "lists").exists()


def test_the_bounded_variant_passes_where_the_full_one_is_refused(tmp_path, small_memory):
    run = tmp_path / "out"
    with pytest.raises(InputError):
        run_benchmark(load_config(config_file(tmp_path)), run, tune=False)
    prepared = {"syn": (run / "data" / "atomic" / "syn", "fp")}
    check_entries_fit(load_config(config_file(tmp_path, ", params: {max_items: 10}")), prepared)  # 10 items fit
    with pytest.raises(InputError, match=re.escape("11 items (max_items: 11) need")):
        check_entries_fit(load_config(config_file(tmp_path, ", params: {max_items: 11}")), prepared)


def test_the_cli_exits_2_with_one_error_line(tmp_path, small_memory, capsys):
    from recsys_cl.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(config_file(tmp_path)), "--out", str(tmp_path / "out")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("recsys-cl: error:")]
    assert exit_info.value.code == 2 and len(errors) == 1, errors  # (above it: the data preparation's progress)
    assert re.search(REFUSAL.lstrip("^"), errors[0]), errors
