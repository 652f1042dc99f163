"""Hand-made results folders (cells with known per-user scores), so report values can be checked exactly."""

import json

import numpy as np
import polars as pl
import pytest

from recsys_cl.data._atomic import write_json
from recsys_cl.reporting._records import CellRecord, CellSummary, RunRecord
from recsys_cl.reporting._records import write_run as write_run_record

N_USERS = 200


def write_run(directory, variants, name="fake", config=None, datasets=None, methods=None):
    """variants: {(model, embedding): per-user ndcg@10 array}; hr@10 = ndcg@10 > 0. One config entry per
    model (its index in order of first appearance); ``methods``: embedding name -> its learner (default text-nce)."""
    cells_dir = directory / "cells"
    cells_dir.mkdir(parents=True)
    entries = []
    models = list(dict.fromkeys(model for model, _ in variants))
    methods = methods or {}
    users = [f"u{i:03d}" for i in range(N_USERS)]
    for n, ((model, embedding), ndcg) in enumerate(variants.items()):
        key = f"k{n}"
        hr = (np.asarray(ndcg) > 0).astype(float)
        frames = []
        for metric, values in (("ndcg", ndcg), ("hr", hr)):
            frames.append(pl.DataFrame({
                "user_id": users, "metric": [metric] * N_USERS, "k": [10] * N_USERS, "value": np.asarray(values, float),
                "user_segment": ["1-2"] * 100 + ["11+"] * 100, "scope": ["all"] * N_USERS,
            }, schema_overrides={"k": pl.Int32}))  # fmt: skip
        pl.concat(frames).write_parquet(cells_dir / f"{key}.users.parquet")
        summary = {"ndcg@10": float(np.mean(ndcg)), "hr@10": float(hr.mean()), "n_users": float(N_USERS)}
        segments = {
            "user_activity": {
                "1-2": {"n_users": 100, "ndcg@10": float(np.mean(ndcg[:100]))},
                "11+": {"n_users": 100, "ndcg@10": float(np.mean(ndcg[100:]))},
                "3-5": {"n_users": 0, "ndcg@10": None},
            },
            "item_popularity": {"cold": {"n_users": 0, "ndcg@10": None}, "warm": {"n_users": N_USERS, "ndcg@10": summary["ndcg@10"]}},
        }
        method = None if embedding == "none" else methods.get(embedding, "text-nce")
        record = CellRecord(key=key, dataset="ds", protocol="loo", model=model, model_name=model, embedding=embedding,
                            embedding_method=method, seed=0, summary=summary, segments=segments, n_users=N_USERS,
                            fit_seconds=1.0 + n, recommend_seconds=0.1, model_index=models.index(model))  # fmt: skip
        write_json(cells_dir / f"{key}.json", record.model_dump(mode="json"))
        entries.append(CellSummary(key=key, dataset="ds", protocol="loo", model=model, model_name=model, embedding=embedding))
    run = RunRecord(config={"name": name, "significance": {"baseline": "pop", "metric": "ndcg@10", "alpha": 0.05},
                            "models": [{"model": m, "params": {}} for m in models], **(config or {})},
                    recsys_cl_version="test", cells=entries, device="cpu", executor="local",
                    datasets={n: {"dir": "-", "fingerprint": fp} for n, fp in (datasets or {}).items()})  # fmt: skip
    write_run_record(directory / "run.json", run)
    return directory


@pytest.fixture
def fake_results(tmp_path):
    rng = np.random.default_rng(0)
    return write_run(tmp_path / "run", {
        ("pop", "none"): np.full(N_USERS, 0.1),
        ("als", "none"): np.full(N_USERS, 0.3),
        ("als", "txt"): np.full(N_USERS, 0.3) + rng.normal(0, 0.01, N_USERS),  # same on average: no effect
        ("knn", "none"): np.full(N_USERS, 0.05),
    })  # fmt: skip


#: a composed retrieval result as ``composed_retrieval`` writes it (``ComposedResult``'s keys)
COMPOSED = {
    "dataset": "styles", "n_gallery": 90, "n_queries": 60, "n_heldout_queries": 12, "templates": [], "encoders": {},
    "history": [], "seconds": 1.0, "options": {"retrieval_ks": [5, 10]},
    "text_only": {"n_queries": 12, "recall@5": 0.5, "recall@10": 0.75, "ndcg@5": 0.4, "ndcg@10": 0.45},
    "image_only": {"n_queries": 12, "recall@5": 0.125, "recall@10": 0.25, "ndcg@5": 0.1, "ndcg@10": 0.15},
    "fused_learner": {"n_queries": 12, "recall@5": 0.625, "recall@10": 0.75, "ndcg@5": 0.5, "ndcg@10": 0.55},
}  # fmt: skip


def add_composed(results_dir, dataset="styles", result=COMPOSED):
    """Store ``result`` as the run's composed retrieval on ``dataset`` (as the benchmark runner does)."""
    path = results_dir / "embeddings" / dataset / "retrieval" / "composed.json"
    write_json(path, result)
    run = json.loads((results_dir / "run.json").read_text())
    run.setdefault("composed_retrieval", {})[dataset] = str(path)
    write_json(results_dir / "run.json", run)
    return results_dir
