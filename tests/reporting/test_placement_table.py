"""Cold-item reports: the placement table, and variants that declare they cannot rank new items."""

import json

import numpy as np

from recsys_cl.reporting import _plots, load_results
from recsys_cl.reporting._tables import CANNOT_RANK, all_tables, main_table, placement_table
from tests.reporting.conftest import N_USERS, write_run


def _placed(rank_share: float, cold_share: float, new_ndcg: float | None = None) -> dict:
    placed = {"placement_users": 200.0, "test_rank_median": rank_share * 1000, "test_rank_share_median": rank_share,
              "cold_catalogue_share": 0.2, "cold_share@10": cold_share, "cold_lift@10": cold_share / 0.2}  # fmt: skip
    return placed if new_ndcg is None else {**placed, "new_items_ndcg@10": new_ndcg}


def _cold_item_run(tmp_path):
    directory = write_run(tmp_path / "run", {
        ("pop", "none"): np.zeros(N_USERS),
        ("lightgcn", "txt"): np.full(N_USERS, 0.08),
        ("bpr", "txt"): np.full(N_USERS, 0.01),
    })  # fmt: skip
    # Pop's cell from before the new-items nDCG existed: its column shows "–"
    extra = {"k0": {"placement": _placed(0.9, 0.0)}, "k1": {"placement": _placed(0.1, 0.5, 0.0625)},
             "k2": {"placement": _placed(0.5, 0.2), "cannot_rank_new_items": "its content only initialises the ID table"}}
    for key, fields in extra.items():
        path = directory / "cells" / f"{key}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))
    return load_results(directory)


def test_placement_table_shows_where_new_items_land_and_marks_models_that_list_none(tmp_path):
    results = _cold_item_run(tmp_path)
    table = placement_table(results, "ds", "loo")
    assert table.columns == ["model", "median test rank", "rank / candidates", "new items in top 10", "in catalogue", "lift",
                             "ndcg@10 among new items", "vs the best"]  # fmt: skip
    rows = {row[0]: row[1:] for row in table.rows}
    # no per-user values of nDCG among new items in these cells: nothing tested
    assert rows["pop"] == ["900", "0.900", "0.000", "0.200", "0.00", "–", "–"]
    assert rows["lightgcn + txt"] == ["100", "0.100", "0.500", "0.200", "2.50", "0.0625", "–"]
    assert (0, 5) in table.bold and (1, 5) not in table.bold  # Pop's lift 0: no new item in any list
    assert rows["bpr + txt"][0] == CANNOT_RANK
    assert "bpr + txt: its content only initialises the ID table" in table.note
    assert ("segments", table.title) in [(section, t.title) for section, t in all_tables(results, n_resamples=50)]


def test_main_table_prints_cannot_rank_instead_of_numbers(tmp_path):
    results = _cold_item_run(tmp_path)
    table = main_table(results, "ds", "loo", ["hr@10", "ndcg@10"], n_resamples=50)
    row = next(r for r in table.rows if r[0] == "bpr + txt")
    assert row[1:3] == [CANNOT_RANK, CANNOT_RANK] and row[3] == "–"
    assert "Cannot rank new items: bpr + txt: its content only initialises the ID table." in table.note
    assert not any(r == 2 for r, _ in table.bold)


def test_cells_without_placement_have_no_placement_table(fake_results):
    assert placement_table(load_results(fake_results), "ds", "loo") is None


def test_plots_leave_out_variants_that_cannot_rank_new_items(tmp_path):
    results = _cold_item_run(tmp_path)
    intervals = {label: (0.05, 0.04, 0.06) for label in ("pop", "lightgcn + txt", "bpr + txt")}
    plotted = [p.label for p in _plots.points(results, "ds", "loo", intervals)]
    assert plotted == ["pop", "lightgcn + txt"]


def test_ndcg_among_new_items_is_tested_against_randoms_per_user_values(tmp_path):
    """▲ where a variant's per-user nDCG among new items is significantly above Random's (paired over users,
    Holm); none for one at chance; no marks at all without Random's per-user values."""
    import polars as pl

    rng = np.random.default_rng(0)
    chance = rng.uniform(0, 0.2, N_USERS)
    directory = write_run(tmp_path / "run", {("random", "none"): np.zeros(N_USERS), ("vbpr", "txt"): np.full(N_USERS, 0.05),
                                             ("freedom", "txt"): np.full(N_USERS, 0.05), ("lightfm", "txt"): np.full(N_USERS, 0.05)})  # fmt: skip
    users = [f"u{i:03d}" for i in range(N_USERS)]
    picked = chance + rng.uniform(0.05, 0.15, N_USERS)
    # vbpr above chance; freedom: chance shuffled; lightfm: vbpr's with noise that sums to zero (level with it)
    new_ndcg = {"k0": chance, "k1": picked, "k2": chance[::-1].copy(), "k3": picked + np.concatenate([noise := rng.normal(0, 0.01, N_USERS // 2), -noise])}
    for key, values in new_ndcg.items():
        path = directory / "cells" / f"{key}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "placement": _placed(0.3, 0.3, float(values.mean()))}))
        scores = directory / "cells" / f"{key}.users.parquet"
        rows = pl.DataFrame({"user_id": users, "metric": ["new_items_ndcg"] * N_USERS, "k": [10] * N_USERS, "value": values,
                             "user_segment": [""] * N_USERS, "scope": ["placement"] * N_USERS}, schema_overrides={"k": pl.Int32})  # fmt: skip
        pl.concat([pl.read_parquet(scores), rows]).write_parquet(scores)
    table = placement_table(load_results(directory), "ds", "loo")
    shown = {row[0]: row[-2] for row in table.rows}
    assert shown["vbpr + txt"].endswith("▲") and not shown["freedom + txt"].endswith(("▲", "▼"))
    assert not shown["random"].endswith(("▲", "▼")) and "significantly above/below Random's" in table.note
    # against the best variant (vbpr): Random and freedom (chance) significantly below it, by about 0.1
    best = {row[0]: row[-1] for row in table.rows}
    level = {best["vbpr + txt"], best["lightfm + txt"]}  # the same mean: either is the best, the other level with it
    assert "best" in level and not any(text.endswith("▼") for text in level)
    assert best["freedom + txt"].endswith("▼") and best["random"].endswith("▼")
    assert -0.12 < float(best["random"].rstrip("▼")) < -0.08 and "vs the best" in table.note
    # the cold-item run above has no Random: no marks, and the note does not promise them
    plain = placement_table(_cold_item_run(tmp_path / "plain"), "ds", "loo")
    assert "Random's (paired" not in plain.note
