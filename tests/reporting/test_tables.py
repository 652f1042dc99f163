import numpy as np

from recsys_cl.reporting import load_results
from recsys_cl.reporting._tables import DOWN, UP, main_table, segment_table
from recsys_cl.reporting._tuning import embedding_factor_table


def test_main_table_values_best_marks_and_wins(fake_results):
    table = main_table(load_results(fake_results), "ds", "loo", metrics=["ndcg@10", "hr@10"], n_resamples=500)
    rows = {r[0]: r for r in table.rows}
    assert list(rows) == ["pop", "als", "als + txt", "knn"]
    assert rows["pop"][1].startswith("0.1000 ± 0.0000") and UP not in rows["pop"][1]
    assert rows["als"][1].startswith("0.3000") and rows["als"][1].endswith(UP)
    assert rows["knn"][1].endswith(DOWN)
    assert rows["als"][3] == "200/0/0" and rows["knn"][3] == "0/0/200"
    ndcg_col = table.columns.index("ndcg@10")
    best_row = max(range(4), key=lambda r: float(table.rows[r][ndcg_col].split(" ")[0]))
    assert (best_row, ndcg_col) in table.bold and len([b for b in table.bold if b[1] == ndcg_col]) == 1
    assert "bootstrap CI over users" in table.note


def test_embedding_factor_table_reports_no_effect_when_there_is_none(fake_results):
    table = embedding_factor_table(load_results(fake_results), "ds", "loo", "ndcg@10", n_resamples=500)
    assert len(table.rows) == 1
    label, reference, with_, without, delta, p, significant, hr_delta = table.rows[0]
    assert (label, reference, without) == ("als + txt", "als", "0.3000")
    assert abs(float(delta)) < 0.005 and significant == "no" and hr_delta == "+0.0000"


def test_embedding_factor_table_tests_contrastive_against_raw_vectors_and_none(tmp_path):
    from .conftest import N_USERS, write_run

    rng = np.random.default_rng(1)
    base = np.full(N_USERS, 0.2)
    run = write_run(tmp_path / "run", {
        ("pop", "none"): np.full(N_USERS, 0.1),
        ("als", "none"): base,
        ("als", "raw"): base + 0.01 + rng.normal(0, 0.01, N_USERS),
        ("als", "nce"): base + 0.05 + rng.normal(0, 0.01, N_USERS),  # clearly above both
        ("als", "img"): base + rng.normal(0, 0.01, N_USERS),
    }, methods={"raw": "raw-text", "nce": "text-nce", "img": "raw-image"})  # fmt: skip
    table = embedding_factor_table(load_results(run), "ds", "loo", "ndcg@10", n_resamples=500)
    pairs = {(r[0], r[1]): r for r in table.rows}
    # every embedding vs none; the text learner vs the raw text vectors, not vs the image encoder's
    assert set(pairs) == {("als + raw", "als"), ("als + nce", "als"), ("als + img", "als"), ("als + nce", "als + raw")}
    assert pairs[("als + nce", "als + raw")][6] == "yes" and float(pairs[("als + nce", "als + raw")][4]) > 0.03
    assert pairs[("als + img", "als")][6] == "no"
    assert "Holm-corrected over the table's 4 comparisons" in table.note


def test_segment_table_orders_bins_and_marks_empty(fake_results):
    table = segment_table(load_results(fake_results), "ds", "loo")
    assert table.columns == ["model", "users 1-2", "users 3-5", "users 11+", "items cold", "items warm"]
    assert table.rows[0] == ["pop", "0.1000 (100)", "empty", "0.1000 (100)", "empty", "0.1000 (200)"]


def test_latex_and_markdown_render_the_same_rows(fake_results):
    table = main_table(load_results(fake_results), "ds", "loo", metrics=["ndcg@10"], n_resamples=200)
    md, tex = table.to_markdown(), table.to_latex()
    assert md.count("\n| ") == 1 + len(table.rows) and tex.count("\\\\\n") == 1 + len(table.rows)
    assert "\\textbf{" in tex and "$^\\blacktriangle$" in tex and np.isfinite(float(table.rows[1][1].split(" ")[0]))


def test_quality_table_shows_raw_vs_trained(fake_results, tmp_path):
    import json

    from recsys_cl.embeddings import Collapse, DistanceGap, EmbeddingQuality, HeldoutSets, SpaceQuality, TrainingSummary
    from recsys_cl.reporting._tables import quality_table

    emb = tmp_path / "e.itememb"
    EmbeddingQuality(
        method="text-nce", n_items=10, encoders={}, base_modality="text",
        base=SpaceQuality(triplet_accuracy={"all": 0.6}, item_to_item={"recall@10": 0.2}), evaluation=HeldoutSets(None, 5, 0, 10),
        trained=SpaceQuality(triplet_accuracy={"all": 0.8}, item_to_item={"recall@10": 0.25}), n_embedded=10,
        n_without_vector=0, finetune_layers=0, dim=8, options={"retrieval_ks": [5, 10]}, seconds=1.0,
        training=TrainingSummary(n_train=8, n_heldout=2, history=[], heldout_before=DistanceGap(0.5, 0.9, 0.4, 2, 2),
                                 heldout_after=DistanceGap(0.1, 1.0, 0.9, 2, 2)),
        collapse=Collapse(False, None, 0.02),
    ).write(tmp_path / "e.itememb.quality.json")  # fmt: skip
    run = json.loads((fake_results / "run.json").read_text())
    run["embeddings"] = {"ds/loo/txt": str(emb)}
    (fake_results / "run.json").write_text(json.dumps(run))
    table = quality_table(load_results(fake_results))
    assert table.rows == [["ds/loo/txt", "text-nce", "0.600", "0.800", "0.400", "0.900", "no", "0.200", "0.250"]]
    assert table.columns[-2] == "item→item R@10 raw"


def test_fused_variants_pair_with_the_plain_entry_of_their_model(tmp_path):
    """An entry with content: fuse has no embedding-free variant of its own: its twin is the plain entry of the
    same model whose other parameters are the same (not one with other epochs)."""
    from recsys_cl.reporting._tuning import _comparisons

    from .conftest import N_USERS, write_run

    run = write_run(tmp_path / "run", {("neumf", "none"): np.full(N_USERS, 0.2), ("neumf-fused", "txt"): np.full(N_USERS, 0.25),
                                       ("neumf-6", "none"): np.full(N_USERS, 0.1)})  # fmt: skip
    run_json = run / "run.json"
    import json

    record = json.loads(run_json.read_text())
    record["config"]["models"] = [{"model": "neumf", "params": {"epochs": 5}},
                                  {"model": "neumf", "params": {"epochs": 5, "content": "fuse"}},
                                  {"model": "neumf", "params": {"epochs": 6}}]  # fmt: skip
    run_json.write_text(json.dumps(record))
    results = load_results(run)
    pairs = [(label, reference) for label, _, reference, _ in _comparisons(results, results.cells)]
    assert pairs == [("neumf-fused + txt", "neumf")]


def test_composed_table_exact_values_and_best_per_column(fake_results):
    from recsys_cl.reporting._tables import composed_table

    from .conftest import add_composed

    assert composed_table(load_results(fake_results)) is None  # runs without composed retrieval: no table
    table = composed_table(load_results(add_composed(fake_results)))
    assert table.columns == ["dataset", "method", "queries", "recall@5", "recall@10", "ndcg@5", "ndcg@10"]
    assert table.rows == [
        ["styles", "text only", "12", "0.5000", "0.7500", "0.4000", "0.4500"],
        ["styles", "image only", "12", "0.1250", "0.2500", "0.1000", "0.1500"],
        ["styles", "fused learner", "12", "0.6250", "0.7500", "0.5000", "0.5500"],
    ]
    assert table.bold == {(2, 3), (0, 4), (2, 4), (2, 5), (2, 6)}  # a tie (recall@10) is bold twice


def test_legend_maps_each_label_to_its_run_name_and_parameters(tmp_path):
    from recsys_cl.reporting._tables import legend_table

    from .conftest import N_USERS, write_run

    run = write_run(tmp_path / "run", {("pop", "none"): np.full(N_USERS, 0.1), ("als", "txt"): np.full(N_USERS, 0.2)})
    table = legend_table(load_results(run))
    assert table.columns[:4] == ["label", "dataset / protocol", "run name", "embedding"]
    assert [r[:4] for r in table.rows] == [["pop", "ds / loo", "pop", "none"], ["als + txt", "ds / loo", "als", "txt"]]
    assert table.rows[0][4] == "defaults" and table.rows[0][5] == "as configured"


def test_main_table_note_states_the_evaluation_mode_repeat_share_and_ceiling(fake_results):
    from types import SimpleNamespace

    from recsys_cl.reporting._tables import evaluation_mode_note

    summary = {"repeat_share": 0.25, "ceiling_ndcg@10": 0.61, "ceiling_map@12": 0.5}
    kept = [SimpleNamespace(exclude_seen=False, summary=summary)]
    note = evaluation_mode_note(kept, ["ndcg@10", "hr@10", "map@12"])
    assert note.startswith("Evaluation: no-exclude-seen (lists scored as given: a repurchase counts as a hit).")
    assert "25.0% of test items repeat a training item" in note and note.endswith("ndcg@10 0.6100, map@12 0.5000.")
    excluded = evaluation_mode_note([SimpleNamespace(exclude_seen=True, summary={})], ["ndcg@10"])
    assert excluded == "Evaluation: exclude-seen (each user's training items are left out of their list)."
    mixed = [SimpleNamespace(exclude_seen=True, summary={}), SimpleNamespace(exclude_seen=False, summary={})]
    assert "mixed" in evaluation_mode_note(mixed, ["ndcg@10"])
    # and the report's main table carries it (the fake run's cells use the default, exclusion)
    table = main_table(load_results(fake_results), "ds", "loo", metrics=["ndcg@10"], n_resamples=50)
    assert table.note.endswith("Evaluation: exclude-seen (each user's training items are left out of their list).")
