import numpy as np

from recsys_cl.reporting import load_results
from recsys_cl.reporting._tables import DOWN, UP, contrastive_table, main_table, segment_table


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
    assert "bootstrap over users" in table.note


def test_contrastive_table_reports_no_effect_when_there_is_none(fake_results):
    table = contrastive_table(load_results(fake_results), "ds", "loo", metrics=["ndcg@10"], n_resamples=500)
    assert len(table.rows) == 1
    model, embedding, metric, without, with_, delta, p, significant = table.rows[0]
    assert (model, embedding, metric, without) == ("als", "txt", "ndcg@10", "0.3000")
    assert abs(float(delta.split(" ")[0])) < 0.005 and significant == "no"


def test_segment_table_orders_bins_and_marks_empty(fake_results):
    table = segment_table(load_results(fake_results), "ds", "loo")
    assert table.columns == ["model", "users 1-2", "users 3-5", "users 11+", "items cold", "items warm"]
    assert table.rows[0] == ["pop", "0.1000 (100)", "empty", "0.1000 (100)", "empty", "0.1000 (200)"]


def test_latex_and_markdown_render_the_same_rows(fake_results):
    table = main_table(load_results(fake_results), "ds", "loo", metrics=["ndcg@10"], n_resamples=200)
    md, tex = table.to_markdown(), table.to_latex()
    assert md.count("\n| ") == 1 + len(table.rows) and tex.count("\\\\\n") == 1 + len(table.rows)
    assert "\\textbf{" in tex and "$^\\blacktriangle$" in tex and np.isfinite(float(table.rows[1][1].split(" ")[0]))
