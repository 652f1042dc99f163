"""Fit and recommend seconds of every non-RecBole backend on MovieLens-100K (loo split), default settings.

    python benchmarks/perf/bench_backends.py                  # all models
    python benchmarks/perf/bench_backends.py --models pop implicit-als

Target (issue 4): every model fits in under 2 minutes on 2 CPU cores; the table prints each fit time as
a share of that budget, and HR@10 / nDCG@10 beside Pop's from the same run (a sanity check: BPR and ALS
must beat Pop on ml-100k loo). Content-aware models get the movies' genre multi-hot vectors (from RecBole's
ml-100k.item ``class`` field) as item embeddings: a weak but real content signal, no encoder needed.
Recommendations are full rankings over all items for every test user, training items excluded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from recsys_cl.data import EncodedSplit, loo, read_atomic  # noqa: E402
from recsys_cl.data._movielens import recbole_ml100k_dir  # noqa: E402
from recsys_cl.embeddings._io import ItemEmbeddings  # noqa: E402
from recsys_cl.models import create  # noqa: E402

BUDGET_SECONDS = 120.0
K = 10
MODELS = {
    "pop": ({}, False),
    "recent-pop": ({}, False),
    "itemknn": ({}, False),
    "implicit-als": ({}, False),
    "implicit-bpr": ({}, False),
    "lightfm": ({}, False),
    "lightfm(bpr)": ({"loss": "bpr"}, False),
    "lightfm(embeddings)": ({"item_features": "embeddings"}, True),
    "content-knn": ({}, True),
}


def genre_embeddings(items: pl.DataFrame) -> ItemEmbeddings:
    """Multi-hot genre vector per movie (RecBole's ``class`` field, space-separated genres)."""
    genres = [str(g).split() for g in items["class"].to_list()]
    vocab = sorted({g for gs in genres for g in gs})
    vectors = np.zeros((len(genres), len(vocab)), dtype=np.float32)
    for row, gs in enumerate(genres):
        vectors[row, [vocab.index(g) for g in gs]] = 1.0
    return ItemEmbeddings(items["item_id"].to_numpy().astype(str), vectors, "ml100k-genres")


def quality(rankings, encoded: EncodedSplit) -> tuple[float, float]:
    """HR@K and nDCG@K (one held-out item per user under loo)."""
    test = encoded.test
    hr, ndcg = [], []
    for u, row in zip(rankings.users, rankings.items):
        relevant = test.indices[test.indptr[u] : test.indptr[u + 1]]
        hit = np.flatnonzero(np.isin(row, relevant))
        hr.append(float(hit.size > 0))
        ndcg.append(1.0 / np.log2(hit[0] + 2) if hit.size else 0.0)
    return float(np.mean(hr)), float(np.mean(ndcg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()

    src = recbole_ml100k_dir()
    inter = read_atomic(src / "ml-100k.inter").select("user_id", "item_id", "timestamp")
    items = read_atomic(src / "ml-100k.item")
    start = time.perf_counter()
    encoded = EncodedSplit.from_split(loo(inter), items.select("item_id"))
    print(
        f"ml-100k loo: {encoded.n_users} users, {encoded.n_items} items, {encoded.train.nnz} train pairs, "
        f"{len(encoded.eval_users('test'))} test users (split + encode {time.perf_counter() - start:.1f} s)"
    )
    embeddings = genre_embeddings(items)

    rows = []
    for label in args.models:
        params, content = MODELS[label]
        name = label.split("(")[0]
        model = create(name, **params).fit(encoded, embeddings if content else None)
        rankings = model.recommend(k=K)
        hr, ndcg = quality(rankings, encoded)
        rows.append((model.run_name, model.fit_seconds, model.recommend_seconds, hr, ndcg))
        print(f"  done {model.run_name}: fit {model.fit_seconds:.1f} s", flush=True)

    pop = next((r for r in rows if r[0] == "pop"), None)
    print(f"\n{'model':32} {'fit s':>7} {'of 2 min':>8} {'rec s':>6} {'HR@10':>6} {'nDCG@10':>7} {'HR/Pop':>6}")
    for run, fit_s, rec_s, hr, ndcg in rows:
        ratio = f"{hr / pop[3]:.2f}" if pop and pop[3] > 0 else "-"
        print(f"{run:32} {fit_s:7.2f} {fit_s / BUDGET_SECONDS:8.1%} {rec_s:6.2f} {hr:6.3f} {ndcg:7.3f} {ratio:>6}")
    slow = [r[0] for r in rows if r[1] > BUDGET_SECONDS]
    print(f"\nover the 2-minute fit budget: {', '.join(slow) if slow else 'none'}")


if __name__ == "__main__":
    main()
