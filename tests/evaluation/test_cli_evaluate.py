import json
from pathlib import Path

import polars as pl
import pytest

from recsys_cl.data import prepare
from recsys_cl.data._dataset import load_dataset
from recsys_cl.evaluation import evaluate
from recsys_cl.models import create

RAW = Path(__file__).parents[1] / "data" / "fixtures" / "hm_raw"


@pytest.fixture
def dataset_and_rankings(tmp_path):
    prepare("hm", tmp_path, raw=RAW)
    data = tmp_path / "hm"
    enc = load_dataset(data).encoded("loo")
    rankings = create("pop").fit(enc).recommend(k=2)
    path = tmp_path / "pop.parquet"
    rankings.save(path)
    return data, enc, rankings, path


def test_evaluate_file_json_equals_library(dataset_and_rankings, cli):
    data, enc, rankings, path = dataset_and_rankings
    code, out, _ = cli(["evaluate", "--rankings", str(path), "--data", str(data), "--k", "1,2", "--json"])
    assert code == 0
    summary = json.loads(out)["summary"]
    expected = evaluate(rankings, enc, ks=[1, 2], metrics=["hr", "ndcg", "recall", "precision", "mrr", "map"]).summary
    assert summary["ndcg@2"] == pytest.approx(expected["ndcg@2"]) and summary["hr@1"] == pytest.approx(expected["hr@1"])
    assert summary["n_users"] == 2


def test_evaluate_tsv_with_unknown_item_is_one_line_error(dataset_and_rankings, tmp_path, cli):
    data, _, rankings, _ = dataset_and_rankings
    frame = rankings.to_frame()
    bad = frame.with_columns(pl.when(pl.col("rank") == 1).then(pl.lit("0999999999")).otherwise(pl.col("item_id")).alias("item_id"))
    tsv = tmp_path / "bad.tsv"
    bad.write_csv(tsv, separator="\t")
    code, _, err = cli(["evaluate", "--rankings", str(tsv), "--data", str(data), "--k", "1"])
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert len(lines) == 1 and "0999999999" in lines[0]


def test_header_only_rankings_file_says_so(dataset_and_rankings, tmp_path, cli):
    data, _, _, _ = dataset_and_rankings
    tsv = tmp_path / "empty.tsv"
    tsv.write_text("user_id\titem_id\trank\n")
    code, _, err = cli(["evaluate", "--rankings", str(tsv), "--data", str(data)])
    lines = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert code == 2 and len(lines) == 1 and "empty.tsv: no rankings (a header and no data rows)" in lines[0]


def test_evaluate_refuses_a_protocol_the_dataset_was_not_prepared_with(dataset_and_rankings, cli):
    data, _, _, path = dataset_and_rankings
    code, _, err = cli(["evaluate", "--rankings", str(path), "--data", str(data), "--protocol", "temporal"])
    assert code == 2 and "protocol 'temporal' was not prepared (have: loo)" in err


def test_evaluate_exclude_seen_flags(dataset_and_rankings, tmp_path, cli):
    data, enc, _, _ = dataset_and_rankings
    # Pop's lists with training items left in: the two modes score them differently
    rankings = create("pop").fit(enc).recommend(k=3, exclude_seen=False)
    path = tmp_path / "pop_all.parquet"
    rankings.save(path)
    train = enc.train.toarray() > 0
    in_train = sum(int(train[u, i]) for u, row in zip(rankings.users, rankings.items) for i in row if i >= 0)
    assert in_train > 0  # the premise: some listed items are training items of their user
    args = ["evaluate", "--rankings", str(path), "--data", str(data), "--k", "1,3", "--json"]
    code, out, _ = cli([*args, "--no-exclude-seen"])
    as_given = json.loads(out)
    assert code == 0 and as_given["config"]["exclude_seen"] is False and as_given["summary"]["seen_dropped"] == 0
    expected = evaluate(rankings, enc, ks=[1, 3], metrics=["hr", "ndcg", "recall", "precision", "mrr", "map"]).summary
    assert as_given["summary"]["ndcg@3"] == pytest.approx(expected["ndcg@3"])
    code, out, _ = cli([*args, "--exclude-seen"])
    excluded = json.loads(out)
    assert excluded["config"]["exclude_seen"] is True and excluded["summary"]["seen_dropped"] == in_train
    code, out, _ = cli(args)  # loo's default mode is exclusion
    assert json.loads(out)["config"]["exclude_seen"] is True
    code, out, _ = cli(["evaluate", "--rankings", str(path), "--data", str(data), "--k", "1,3"])
    assert code == 0 and f"exclude-seen: {in_train} training items" in out
    assert "items repeating a training item" in out and "best reachable with training items excluded: hr@3" in out


def test_evaluate_beyond_accuracy_options_equal_library(dataset_and_rankings, tmp_path, cli):
    import numpy as np

    from recsys_cl.data._atomic import read_atomic
    from recsys_cl.embeddings import ItemEmbeddings, write_itememb
    from recsys_cl.evaluation import BeyondAccuracyConfig

    data, enc, rankings, path = dataset_and_rankings
    vectors = ItemEmbeddings(enc.item_ids, np.random.default_rng(0).normal(size=(enc.n_items, 4)).astype(np.float32), "rnd")
    emb_file = write_itememb(vectors, tmp_path / "hm.itememb")
    code, out, _ = cli(
        ["evaluate", "--rankings", str(path), "--data", str(data), "--k", "2", "--json", "--metrics", "ndcg,beyond",
         "--diversity-attribute", "product_type_name", "--embeddings", str(emb_file), "--tail-ratio", "0.5"])  # fmt: skip
    assert code == 0
    summary = json.loads(out)["summary"]
    beyond = BeyondAccuracyConfig(diversity_attribute="product_type_name", tail_ratio=0.5)
    expected = evaluate(rankings, enc, ks=[2], metrics=["ndcg", "beyond"], item_table=read_atomic(data / "hm.item"),
                        embeddings=vectors, beyond=beyond).summary  # fmt: skip
    for name in ("ndcg", "coverage", "gini", "novelty", "avg_popularity", "tail_share", "diversity", "embedding_diversity"):
        assert summary[f"{name}@2"] == pytest.approx(expected[f"{name}@2"]), name
    # the table form lists every requested metric
    code, out, _ = cli(["evaluate", "--rankings", str(path), "--data", str(data), "--k", "2", "--metrics", "novelty,gini"])
    assert code == 0 and "novelty" in out and "gini" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metrics", "ndcg,diversity", "--diversity-attribute", "colour"], "diversity attribute 'colour': not a column of"),
        (["--metrics", "diversity"], "metric 'diversity': needs an item attribute"),
        (["--metrics", "embedding_diversity"], "metric 'embedding_diversity': needs item embeddings"),
        (["--metrics", "gini", "--tail-ratio", "0"], "tail_ratio"),
    ],
)
def test_evaluate_beyond_accuracy_bad_input_is_one_line(dataset_and_rankings, extra, message, cli):
    data, _, _, path = dataset_and_rankings
    code, _, err = cli(["evaluate", "--rankings", str(path), "--data", str(data), "--k", "2", *extra])
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert len(lines) == 1 and message in lines[0], err
