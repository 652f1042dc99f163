"""``recsys-cl recommend``: lists that ``evaluate`` scores exactly as the benchmark cell of the same model, fits on
train / train+valid / all, a user list, the H&M submission, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from recsys_cl.bench import recommend_for_config
from recsys_cl.bench._recommend import HM_K, check_submission
from recsys_cl.errors import InputError
from recsys_cl.evaluation import evaluate_rankings_file
from recsys_cl.reporting import read_cell

from ._finished_run import finished_run

CONFIG = """
name: rec
datasets:
  - name: hm-synth
    source: hm-synth
    synth: {customers: 200, articles: 150, weeks: 6, images: false, seed: 0}
protocols: [temporal, loo]
protocol_options:
  temporal: {test_days: 7, valid_days: 7, exclude_seen: false}
models:
  - {model: pop}
  - {model: implicit-als, params: {factors: 8, epochs: 3}}
  - {model: repurchase, protocols: [temporal]}
seeds: [0]
metrics: [hr, ndcg, map]
ks: [5, 12]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished benchmark run of CONFIG (its cells are the reference the exported lists are scored against)."""
    return finished_run(tmp_path_factory.mktemp("recommend"), "rec", CONFIG)


def _cells(run_dir):
    return {(c.dataset, c.protocol, c.label): c for c in map(read_cell, (run_dir / "cells").glob("*.json"))}


def _no_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


@pytest.mark.parametrize(("label", "protocol"), [("ALS", "temporal"), ("ALS", "loo"), ("Repurchase", "temporal")])
def test_lists_fitted_on_train_score_as_the_benchmark_cell(run, cli, label, protocol):
    out = run / f"lists-{label}-{protocol}"
    code, stdout, stderr = cli(["recommend", str(run / "rec.yaml"), "--model", label, "--run", str(run / "run"), "--protocol",
                                protocol, "--fit-on", "train", "--out", str(out), "--chunk-users", "37"])  # fmt: skip
    assert code == 0, stderr
    assert f"fitted on hm-synth/{protocol} train" in stdout
    cell = _cells(run / "run")[("hm-synth", protocol, label)]
    record = json.loads((out / "recommend.json").read_text())
    assert record["exclude_seen"] is (protocol == "loo") and record["params"] == cell.params
    assert record["data_fingerprint"] and record["commit"] and record["seed"] == 0 and record["fit_on"] == "train"
    for name in ("recommendations.parquet", "recommendations.tsv"):  # several chunks, one file each
        result = evaluate_rankings_file(out / name, run / "run" / "data" / "atomic" / "hm-synth", metrics=["hr", "ndcg", "map"],
                                        ks=[5, 12], protocol=protocol).to_dict()  # fmt: skip
        for key in ("hr@5", "ndcg@5", "map@5", "hr@12", "ndcg@12", "map@12", "n_users"):
            assert result["summary"][key] == cell.summary[key], (name, key)
    lists = pl.read_parquet(out / "recommendations.parquet")
    assert lists.columns == ["user_id", "item_id", "rank", "score"] and lists.height == record["rows"]
    assert lists["user_id"].n_unique() == record["users"] == record["fitted"]["users"]
    assert pl.read_csv(out / "recommendations.tsv", separator="\t", infer_schema=False)["item_id"].to_list() == lists["item_id"].to_list()


def test_fit_on_all_moves_the_end_of_training_to_the_last_day(run):
    from recsys_cl.bench import load_config
    from recsys_cl.data import load_dataset

    config = load_config(run / "rec.yaml")
    records = {
        fit_on: recommend_for_config(config, run / f"rep-{fit_on}", model="Repurchase", run_dir=run / "run", fit_on=fit_on, k=5)
        for fit_on in ("train", "train+valid", "all")
    }
    split = load_dataset(run / "run" / "data" / "atomic" / "hm-synth").split("temporal")
    sizes = [split.train.height, split.train.height + split.valid.height, split.train.height + split.valid.height + split.test.height]
    assert [records[f]["fitted"]["interactions"] for f in ("train", "train+valid", "all")] == sizes
    last_days = [records[f]["fitted"]["last_day"] for f in ("train", "train+valid", "all")]
    assert last_days == sorted(last_days) and len(set(last_days)) == 3
    # repurchase ranks a user's latest purchase first: fitted on all, that is a test-part purchase
    test = split.test.with_columns(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8))
    # (dates only: every item of the user's last purchase day ties on recency)
    last_day = test.filter(pl.col("timestamp") == pl.col("timestamp").max().over("user_id"))
    first = pl.read_parquet(run / "rep-all" / "recommendations.parquet").filter(pl.col("rank") == 1)
    assert first.join(test.select("user_id").unique(), on="user_id").height > 10
    on_last_day = first.join(last_day.select("user_id", "item_id").unique(), on=["user_id", "item_id"], how="semi")
    assert on_last_day.height == first.join(test.select("user_id").unique(), on="user_id").height


def test_a_user_list_gives_lists_for_exactly_those_users(run, cli):
    from recsys_cl.data import load_dataset

    ids = load_dataset(run / "run" / "data" / "atomic" / "hm-synth").encoded("temporal").user_ids[[3, 1, 40]].tolist()
    (run / "users.txt").write_text("user_id\n" + "\n".join(ids) + "\n")
    out = run / "some-users"
    code, _, stderr = cli(["recommend", str(run / "rec.yaml"), "--model", "Pop", "--run", str(run / "run"), "--users",
                           str(run / "users.txt"), "--k", "4", "--out", str(out)])  # fmt: skip
    assert code == 0, stderr
    lists = pl.read_parquet(out / "recommendations.parquet")
    assert lists["user_id"].unique(maintain_order=True).to_list() == ids and lists.height == 12


def test_best_parameters_come_from_the_runs_study(run, cli):
    from recsys_cl.bench import load_config, tune_benchmark
    from recsys_cl.bench._config import ModelSpec, TuningSpec

    als_entry = ModelSpec.model_validate({"model": "implicit-als", "params": {"factors": 8, "epochs": 3},
                                          "search": {"reg": {"type": "log_float", "low": 0.001, "high": 10}}})  # fmt: skip
    config = load_config(run / "rec.yaml").model_copy(update={"protocols": ["temporal"], "models": [als_entry], "tuning": TuningSpec(metric="ndcg@12")})  # one study
    (als,) = tune_benchmark(config, run / "tuned", trials=2)
    record = recommend_for_config(config, run / "best-als", model="ALS", run_dir=run / "tuned", best=True, fit_on="all")
    assert record["best_from_study"] == als.key and record["params"] == als.refit_params
    assert record["params"] != config.models[0].params  # the study searched something


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "SASRec"], "--model 'SASRec': no model entry of config 'rec' is called so (labels: 'Pop', 'ALS', 'Repurchase')"),
        (["--model", "ALS", "--best"], "holds no finished study of hm-synth/temporal/ALS (tune it first"),
        (["--model", "Pop", "--users", "USERS"], "user 'nobody' (entry 2) is not in the data (1 of 2 unknown)"),
        (["--model", "Pop", "--k", "151"], "--k 151: larger than the catalogue of hm-synth (150 items)"),
        (["--model", "Pop", "--fit-on", "everything"], "--fit-on 'everything': choose one of train, train+valid, all"),
        (["--model", "Pop", "--format", "hm-submission", "--k", "10"], "--k 10: the H&M submission has exactly 12 articles"),
        (["--model", "Repurchase", "--protocol", "loo"], "--protocol 'loo': not a protocol this entry runs on (temporal)"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(run, cli, argv, message):
    from recsys_cl.data import load_dataset

    known = load_dataset(run / "run" / "data" / "atomic" / "hm-synth").encoded("temporal").user_ids[0]
    (run / "bad-users.txt").write_text(f"{known}\nnobody\n")
    argv = [str(run / "bad-users.txt") if a == "USERS" else a for a in argv]
    out = run / "bad" / "out"
    code, stdout, stderr = cli(["recommend", str(run / "rec.yaml"), "--run", str(run / "run"), "--out", str(out), *argv])
    assert code == 2 and message in stderr, stderr
    assert stderr.strip().count("\n") == 0 or "recsys-cl: error:" in stderr.strip().splitlines()[-1]
    assert not out.exists() and (not out.parent.exists() or _no_leftovers(out.parent) == [])


def test_an_existing_folder_of_other_files_is_not_replaced(run, cli):
    out = run / "occupied"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, stderr = cli(["recommend", str(run / "rec.yaml"), "--model", "Pop", "--run", str(run / "run"), "--out", str(out)])
    assert code == 2 and "is not an earlier recommend output" in stderr
    assert (out / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------- H&M submission
HM_CONFIG = """
name: hm-sub
datasets:
  - {name: hm, source: hm, raw: RAW}
protocols: [temporal]
protocol_options:
  temporal: {exclude_seen: false}
models:
  - {model: repurchase}
  - {model: implicit-als, params: {factors: 8, epochs: 3}}
"""


@pytest.fixture(scope="module")
def hm_raw(tmp_path_factory):
    """A small H&M download (the Kaggle layout, from the generator) with two customers who never bought."""
    from recsys_cl.data.synth import generate_hm

    raw = tmp_path_factory.mktemp("hm") / "raw"
    generate_hm(raw, customers=150, articles=120, weeks=5, seed=1)
    with open(raw / "customers.csv", "a", encoding="utf-8") as fh:
        for n in range(2):
            fh.write(f"{n:064x},,,ACTIVE,NONE,30,{'a' * 64}\n")
    return raw


@pytest.mark.parametrize("label", ["Repurchase", "ALS"])
def test_hm_submission_has_every_customer_with_12_distinct_articles(hm_raw, cli, label):
    root = hm_raw.parent
    (root / "hm.yaml").write_text(HM_CONFIG.replace("RAW", str(hm_raw)))
    out = root / f"sub-{label}"
    code, stdout, stderr = cli(["recommend", str(root / "hm.yaml"), "--model", label, "--run", str(root / "run"),
                                "--fit-on", "all", "--format", "hm-submission", "--out", str(out), "--chunk-users", "40"])  # fmt: skip
    assert code == 0, stderr
    sub = pl.read_csv(out / "submission.csv", infer_schema=False)
    customers = pl.read_csv(hm_raw / "customers.csv", infer_schema=False)["customer_id"]
    assert sub.columns == ["customer_id", "prediction"] and sub["customer_id"].to_list() == customers.to_list()
    articles = set(pl.read_csv(hm_raw / "articles.csv", infer_schema=False)["article_id"].str.zfill(10).to_list())
    for prediction in sub["prediction"]:
        ids = prediction.split(" ")
        assert len(ids) == HM_K == len(set(ids)) and all(len(a) == 10 and a in articles for a in ids)
    record = json.loads((out / "recommend.json").read_text())
    buyers = pl.read_csv(hm_raw / "transactions_train.csv", infer_schema=False)["customer_id"].n_unique()
    assert record["customers"] == customers.len() and record["customers_with_model_list"] == buyers
    assert record["customers_filled_by_fallback"] == customers.len() - buyers >= 2
    never = sub.filter(pl.col("customer_id") == f"{0:064x}")["prediction"][0]
    assert never.split(" ") == record["fallback_articles"]
    assert f"({customers.len() - buyers:,} by the fallback)" in stdout


def test_check_submission_names_what_is_wrong(tmp_path):
    articles = {f"{i:010d}" for i in range(1, 20)}
    good = " ".join(f"{i:010d}" for i in range(1, 13))
    customers = np.array(["a", "b"])
    cases = {
        "customer_id,prediction\na,GOOD\na,GOOD\n": ":3: customer 'a' where 'b' is due (each customer once, in customers.csv order)",
        "customer_id,prediction\na,GOOD\nc,GOOD\n": ":3: customer 'c' where 'b' is due",
        "customer_id,prediction\na,GOOD\n": "1 rows for 2 customers; customer 'b' has no row",
        "customer_id,prediction\na,GOOD\nb,GOOD\nc,GOOD\n": ":4: a row beyond the 2 customers",
        "customer_id,predictions\na,GOOD\nb,GOOD\n": "header is customer_id,predictions, not customer_id,prediction",
        "customer_id,prediction\na,GOOD\nb,0000000001 0000000001\n": ":3: 2 ids, 1 distinct; expected 12 distinct",
        "customer_id,prediction\na,GOOD\nb,\n": ":3: 1 ids, 1 distinct; expected 12 distinct",
        "customer_id,prediction\na,GOOD,x\nb,GOOD\n": ":2-3: not two columns customer_id,prediction",
        "customer_id,prediction\na,GOOD\nb,GOOD_BAD\n": "is not a 10-digit article id of the catalogue",
    }
    for text, message in cases.items():
        path = tmp_path / "s.csv"
        path.write_text(text.replace("GOOD_BAD", good.replace("0000000012", "0000000099")).replace("GOOD", good))
        with pytest.raises(InputError, match=re.escape(message)):
            check_submission(path, customers, articles)
    path.write_text(f"customer_id,prediction\na,{good}\nb,{good}\n")
    check_submission(path, customers, articles)


def test_check_submission_reads_back_block_by_block(tmp_path, monkeypatch):
    """The file is read in blocks (here 3 rows each): line numbers count across blocks, every block is checked."""
    import recsys_cl.bench._recommend as recommend

    monkeypatch.setattr(recommend, "_CHECK_ROWS", 3)
    good = " ".join(f"{i:010d}" for i in range(1, 13))
    customers = pl.Series([f"c{n:03d}" for n in range(30)])
    rows = [f"{c},{good}" for c in customers]
    path = tmp_path / "s.csv"
    path.write_text("customer_id,prediction\n" + "\n".join(rows) + "\n")
    check_submission(path, customers, {f"{i:010d}" for i in range(1, 13)})
    rows[24] = rows[24].replace("0000000007", "0000000099")
    path.write_text("customer_id,prediction\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"s\.csv:26: '0000000099' is not a 10-digit article id"):
        check_submission(path, customers, {f"{i:010d}" for i in range(1, 13)})
    path.write_text("customer_id,prediction\n" + "\n".join(rows[:20] + rows[21:]) + "\n")
    with pytest.raises(InputError, match=r"s\.csv:22: customer 'c021' where 'c020' is due"):
        check_submission(path, customers, {f"{i:010d}" for i in range(1, 13)})


def test_a_results_folder_of_another_config_is_refused(run, cli, tmp_path):
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"config": {"name": "someone-else"}}))
    out = tmp_path / "out"
    code, _, stderr = cli(["recommend", str(run / "rec.yaml"), "--model", "Pop", "--run", str(other), "--out", str(out)])
    assert code == 2 and "holds the results of config 'someone-else', not 'rec'" in stderr
    assert not out.exists() and sorted(p.name for p in other.iterdir()) == ["run.json"]
