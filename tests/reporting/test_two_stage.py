"""The report's two-stage tables, on a hand-made run whose diagnostics and per-user scores are known."""

import json

import numpy as np
import pytest

from recsys_cl.reporting import write_report
from recsys_cl.reporting._results import load_results
from recsys_cl.reporting._two_stage import candidate_table, comparison_pairs, comparison_table, importance_table
from tests.reporting.conftest import N_USERS, write_run

GENERATORS = [{"model": "repurchase"}, {"model": "itemknn"}]


def diagnostics(with_embeddings: bool, ranker_valid: float, gain: dict[str, float]) -> dict:
    """What TwoStage.diagnostics holds (see models/_two_stage.py), with round numbers."""
    part = {
        "users": 40,
        "candidate_recall": {"repurchase": 0.25, "itemknn": 0.125, "combined": 0.3},
        "map@12": {"ranker": ranker_valid, "repurchase": 0.1, "itemknn": 0.02},
        "best_generator": "repurchase",
        "gain_over_best_generator": ranker_valid - 0.1,
    }
    return {
        "generators": {"repurchase": 20, "itemknn": 20},
        "features": list(gain),
        "embedding_features": with_embeddings,
        "training": {"rounds": 30, "best_round": 10},
        "feature_importance_gain": gain,
        "valid": part,
        "test": {**part, "users": 50, "exclude_seen": False},
    }


@pytest.fixture
def two_stage_run(tmp_path):
    rng = np.random.default_rng(0)
    directory = write_run(tmp_path / "two-stage-run", {
        ("two-stage", "text-nce"): np.full(N_USERS, 0.3) + rng.normal(0, 0.01, N_USERS),
        ("two-stage-plain", "text-nce"): np.full(N_USERS, 0.3) + rng.normal(0, 0.01, N_USERS),
        ("repurchase", "none"): np.full(N_USERS, 0.1),
        ("pop", "none"): np.full(N_USERS, 0.05),
    })  # fmt: skip
    with_gain = {"repurchase_rank": 60.0, "embedding_similarity": 30.0, "age": 10.0}
    without_gain = {"repurchase_rank": 90.0, "age": 10.0}
    for key, label, diag, plain in (("k0", "TwoStage", diagnostics(True, 0.2, with_gain), False),
                                    ("k1", "TwoStage (no embedding features)", diagnostics(False, 0.15, without_gain), True)):  # fmt: skip
        path = directory / "cells" / f"{key}.json"
        cell = json.loads(path.read_text())
        cell.update(label=label, model_name="two-stage", diagnostics=diag,
                    params={"generators": GENERATORS, **({"embedding_features": False} if plain else {})})  # fmt: skip
        path.write_text(json.dumps(cell))
    return directory


def test_candidate_table_shows_recall_per_generator_and_the_ranker_against_the_best_one(two_stage_run):
    table = candidate_table(load_results(two_stage_run), "ds", "loo")
    assert table.columns[:6] == ["model", "part", "buyers", "recall: repurchase", "recall: itemknn", "recall: all candidates"]
    rows = {(r[0], r[1]): r for r in table.rows}
    assert set(rows) == {(v, p) for v in ("TwoStage", "TwoStage (no embedding features)") for p in ("valid", "test")}
    assert rows["TwoStage", "valid"][2:] == ["40", "25.0%", "12.5%", "30.0%", "0.2000", "repurchase", "0.1000", "+0.1000"]
    assert rows["TwoStage", "test"][2] == "50"
    assert rows["TwoStage (no embedding features)", "valid"][-1] == "+0.0500"


def test_importance_table_gives_shares_of_the_total_gain_and_marks_missing_features(two_stage_run):
    table = importance_table(load_results(two_stage_run), "ds", "loo")
    rows = {r[0]: r[1:] for r in table.rows}
    assert rows["repurchase_rank"] == ["60.0%", "90.0%"]
    assert rows["embedding_similarity"] == ["30.0%", "–"]
    assert [r[0] for r in table.rows][0] == "repurchase_rank"  # the largest share first
    assert "10 of 30" in table.note


def test_comparisons_pit_two_stage_against_its_generators_and_its_twin_without_embedding_features(two_stage_run):
    results = load_results(two_stage_run)
    pairs = comparison_pairs(results, "ds", "loo")
    # pop is not a generator (not compared); itemknn is one but not in the grid on its own
    assert pairs == [("TwoStage", "repurchase"), ("TwoStage", "TwoStage (no embedding features)"),
                     ("TwoStage (no embedding features)", "repurchase")]  # fmt: skip
    table = comparison_table(results, "ds", "loo", n_resamples=500)
    by_pair = {(r[0], r[1]): r for r in table.rows}
    assert by_pair["TwoStage", "repurchase"][-1] == "yes"  # 0.3 vs 0.1 for every user
    assert float(by_pair["TwoStage", "repurchase"][4]) == pytest.approx(0.2, abs=0.005)
    assert by_pair["TwoStage", "TwoStage (no embedding features)"][-1] == "no"  # the same up to noise


def test_report_has_the_two_stage_section_only_when_a_run_has_two_stage_cells(two_stage_run, fake_results, tmp_path):
    page = write_report(two_stage_run, tmp_path / "out", n_resamples=200)["html"].read_text()
    assert "Two-stage: the H&amp;M competition" in page and "two-stage candidates and ranker" in page
    plain = write_report(fake_results, tmp_path / "plain", n_resamples=200)["html"].read_text()
    assert "two-stage candidates" not in plain
