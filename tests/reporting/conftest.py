"""Hand-made results folders (cells with known per-user scores), so report values can be checked exactly."""

import json

import numpy as np
import polars as pl
import pytest

from recsys_cl.files import write_json
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


#: (model_name, params, embedding, label, fit seconds): a quickstart-like grid with the longest labels the
#: labeller makes (40 characters, clipped ones included) and fit times that crowd around 10-30 s
REALISTIC_VARIANTS = [
    ("random", {}, "none", "Random", 0.001),
    ("pop", {}, "none", "Pop", 0.001),
    ("recent-pop", {}, "none", "RecentPop", 0.007),
    ("itemknn", {}, "none", "ItemKNN", 0.12),
    ("implicit-als", {}, "none", "ALS", 0.7),
    ("implicit-bpr", {}, "none", "BPR", 2.5),
    ("lightfm", {"epochs": 15}, "none", "LightFM", 2.4),
    ("lightfm", {"epochs": 15}, "text-nce", "LightFM + text-nce", 31.0),
    ("lightfm", {"epochs": 15, "item_identity": False}, "text-nce", "LightFM + text-nce (no ID)", 40.0),
    ("neumf", {"epochs": 10}, "none", "NeuMF", 18.0),
    ("neumf", {"epochs": 10, "content": "fuse"}, "text-nce", "NeuMF + text-nce (fuse)", 18.5),
    ("neumf", {"epochs": 10, "content": "fuse", "id_dropout": 0.5}, "text-nce", "NeuMF + text-nce (fuse, dropout 0.5)", 13.0),
    ("lightgcn", {"epochs": 10}, "none", "LightGCN", 9.7),
    ("lightgcn", {"epochs": 10, "content": "fuse"}, "text-nce", "LightGCN + text-nce (fuse)", 11.4),
    ("lightgcn", {"epochs": 10, "content": "fuse", "item_identity": False}, "text-nce", "LightGCN + text-nce (fuse, no ID)", 11.2),
    ("sgl", {"epochs": 5}, "none", "SGL", 16.0),
    ("content-knn", {}, "raw-text", "content-kNN + raw-text", 0.003),
    ("content-knn", {}, "text-nce", "content-kNN + text-nce", 0.002),
    ("vbpr", {"epochs": 20}, "none", "VBPR", 14.0),
    ("vbpr", {"epochs": 20}, "image-simclr", "VBPR + image-simclr", 15.0),
    ("freedom", {"epochs": 20, "knn_k": 10}, "image-simclr", "FREEDOM + image-simclr (knn_k 10, epochs…", 21.0),
    ("two-stage", {"candidates": 100}, "text-nce", "TwoStage + text-nce (features+categoric…", 16.5),
    ("bpr-recbole", {"embedding_size": 128}, "none", "BPR-MF (embedding_size 128, reg 0.0001)", 12.0),
]
REALISTIC_USERS = 300


def write_realistic_run(directory, seeds_of=None, studies=True, embeddings=True):
    """A run like the quickstart's: 2 datasets x (loo, cold-item) x the 23 REALISTIC_VARIANTS, per-user
    HR/nDCG/MAP, segments, fit times; one embedding with its quality, item file and vectors, and
    tuning studies. ``seeds_of``: (dataset, protocol) -> seeds (default one seed)."""
    from recsys_cl.embeddings import EmbeddingQuality, HeldoutSets, SpaceQuality, TrainingSummary
    from recsys_cl.embeddings._io import ItemEmbeddings, write_itememb
    from recsys_cl.embeddings._records import EpochLoss
    from recsys_cl.reporting._records import StudySummary, write_study

    rng = np.random.default_rng(7)
    cells_dir = directory / "cells"
    cells_dir.mkdir(parents=True)
    users = [f"u{i:04d}" for i in range(REALISTIC_USERS)]
    activity = np.array(["1-2", "3-5", "6-10", "11+"])[np.arange(REALISTIC_USERS) % 4]
    entries, n = [], 0
    # config entries: one per (model, params); a model run with and without an embedding is one entry
    models: list[dict] = []
    for model_name, params, *_ in REALISTIC_VARIANTS:
        if {"model": model_name, "params": params} not in models:
            models.append({"model": model_name, "params": params})
    for dataset in ("hm-synth", "ml-100k"):
        for protocol in ("loo", "cold-item"):
            for v, (model_name, params, embedding, label, fit) in enumerate(REALISTIC_VARIANTS):
                model_index = models.index({"model": model_name, "params": params})
                # plain CF cannot rank cold items: near zero there; the rest crowd around 0.05
                p_hit = 0.005 if protocol == "cold-item" and embedding == "none" else 0.06 + 0.12 * ((v * 7) % 11) / 11
                for seed in (seeds_of or {}).get((dataset, protocol), [0]):
                    hit = rng.random(REALISTIC_USERS) < p_hit
                    rank = rng.integers(1, 11, REALISTIC_USERS)
                    # three of the main table's metrics: enough columns, a fraction of the bootstrap time
                    values = {"hr": hit * 1.0, "ndcg": hit / np.log2(rank + 1), "map": hit / rank}
                    frames = [pl.DataFrame({"user_id": users, "metric": [m] * REALISTIC_USERS, "k": [12 if m == "map" else 10] * REALISTIC_USERS,
                                            "value": x, "user_segment": activity, "scope": ["all"] * REALISTIC_USERS},
                                           schema_overrides={"k": pl.Int32}) for m, x in values.items()]  # fmt: skip
                    key = f"c{n:03d}"
                    n += 1
                    pl.concat(frames).write_parquet(cells_dir / f"{key}.users.parquet")
                    summary = {f"{m}@{12 if m == 'map' else 10}": float(x.mean()) for m, x in values.items()}
                    summary["n_users"] = REALISTIC_USERS
                    by_activity = {
                        seg: {"n_users": int((activity == seg).sum()), "ndcg@10": float(values["ndcg"][activity == seg].mean())}
                        for seg in ("1-2", "11+", "3-5", "6-10")  # JSON's sorted order, as the runner writes it
                    }
                    cold = protocol == "cold-item"
                    by_item = {
                        "cold": {"n_users": REALISTIC_USERS if cold else 21, "ndcg@10": float(values["ndcg"][: 21].mean() / (1 if cold else 3))},
                        "rare": {"n_users": 0 if cold else 90, "ndcg@10": None if cold else float(values["ndcg"][:90].mean())},
                        "warm": {"n_users": 0 if cold else 189, "ndcg@10": None if cold else float(values["ndcg"][90:].mean() * 1.1)},
                    }  # fmt: skip
                    record = CellRecord(key=key, dataset=dataset, protocol=protocol, model=f"{model_name}({params})", label=label,
                                        model_name=model_name, params=params, embedding=embedding, seed=seed, summary=summary,
                                        segments={"user_activity": by_activity, "item_popularity": by_item}, n_users=REALISTIC_USERS,
                                        fit_seconds=fit * (1 + 0.1 * seed), recommend_seconds=0.1, model_index=model_index)  # fmt: skip
                    write_json(cells_dir / f"{key}.json", record.model_dump(mode="json"))
                    entries.append(CellSummary(key=key, dataset=dataset, protocol=protocol, model=record.model, label=label,
                                               model_name=model_name, params=params, embedding=embedding, seed=seed))  # fmt: skip
    run_extra = {}
    if embeddings:
        data_dir = directory / "data" / "hm-synth"
        data_dir.mkdir(parents=True)
        (data_dir / "hm-synth.meta.json").write_text("{}")
        groups = ["Garment Upper body", "Garment Lower body", "Accessories", "Shoes", "Underwear", "Swimwear"]
        item_ids = [f"{i:010d}" for i in range(240)]
        lines = ["item_id:token\tproduct_group_name:token"] + [f"{iid}\t{groups[i % 6]}" for i, iid in enumerate(item_ids)]
        (data_dir / "hm-synth.item").write_text("\n".join(lines) + "\n")
        centres = rng.normal(size=(6, 16))
        vectors = (centres[np.arange(240) % 6] + 0.6 * rng.normal(size=(240, 16))).astype(np.float32)
        emb_path = directory / "embeddings" / "hm-synth" / "loo" / "text-nce.itememb"
        emb_path.parent.mkdir(parents=True)
        write_itememb(ItemEmbeddings(np.array(item_ids), vectors, "text-nce"), emb_path)
        EmbeddingQuality(
            method="text-nce", n_items=240, encoders={}, base_modality="text", base=SpaceQuality(triplet_accuracy={"all": 0.6}),
            evaluation=HeldoutSets(None, 5, 0, 10), trained=SpaceQuality(triplet_accuracy={"all": 0.8}), n_embedded=240,
            n_without_vector=0, finetune_layers=0, dim=16, options={}, seconds=3.0,
            training=TrainingSummary(n_train=200, n_heldout=40, history=[EpochLoss(e, 2.0 / e, 2.2 / e) for e in range(1, 16)]),
        ).write(f"{emb_path}.quality.json")  # fmt: skip
        run_extra["embeddings"] = {"hm-synth/loo/text-nce": str(emb_path)}
        run_extra["datasets"] = {"hm-synth": {"dir": str(data_dir), "fingerprint": "x"}}
    if studies:
        paths = {}
        for dataset in ("hm-synth", "ml-100k"):
            for s, (model_name, params, embedding, label, _) in enumerate(REALISTIC_VARIANTS[3:15]):
                best, so_far = None, []
                for _trial in range(20):
                    value = float(rng.uniform(0.02, 0.1)) if rng.random() > 0.15 else None
                    best = value if best is None or (value is not None and value > best) else best
                    so_far.append(best)
                key = f"s-{dataset}-{s}"
                study = StudySummary(
                    study_name=key, key=key, storage="-", dataset=dataset, protocol="loo", model=model_name, label=label,
                    embedding=embedding, metric="ndcg@10", sampler="tpe", pruner="median", seed=0, refit="train", space={},
                    base_params=params, budget=20, trials_completed=17, trials_pruned=3, trials_failed=0, trials_run_now=20,
                    best_params={}, best_value=best, best_trial=0, best_so_far=so_far, trials=[], stopped_by="budget",
                    wall_seconds=10.0, trial_seconds=9.0,
                )  # fmt: skip
                paths[key] = str(directory / "tuning" / f"{key}.json")
                write_study(paths[key], study)
        run_extra["studies"] = paths
    run = RunRecord(config={"name": "realistic", "significance": {"baseline": "Pop", "metric": "ndcg@10", "alpha": 0.05}, "models": models},
                    recsys_cl_version="test", cells=entries, device="cpu", executor="local", **run_extra)  # fmt: skip
    write_run_record(directory / "run.json", run)
    return directory


@pytest.fixture(scope="session")
def realistic_results(tmp_path_factory):
    """A quickstart-sized run (92 cells) written once per session; tests only read it."""
    return write_realistic_run(tmp_path_factory.mktemp("realistic") / "run")
