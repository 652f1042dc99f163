"""Metrics from rankings: recsys_cl vs ranx vs RecBole's evaluator on the same top-K lists.

    python benchmarks/perf/bench_eval.py                       # 1,371,980 users, K=12; ranx/RecBole on 100,000
    python benchmarks/perf/bench_eval.py --users 200000 --ref-users 20000
    python benchmarks/perf/bench_eval.py --beyond-only             # only the beyond-accuracy row

Target (issue 3): all metrics (hr, ndcg, recall, precision, mrr, map at K=10 and 12) for 1,371,980
users in under 2 s. Synthetic H&M-sized data: 105,542 items, 1-5 test items per user, Zipf-like
popularity, a planted hit in ~15% of the lists so every metric has non-trivial values.

Target (issue 16): the beyond-accuracy metrics (coverage, gini, novelty, avg_popularity, tail_share,
seen_share, diversity by an attribute) add under 2 s to evaluate() at that size; the row also
shows embedding_diversity (mean pairwise cosine distance of d-dimensional item vectors) on its own,
since its cost grows with d (the learned embeddings have d = 128 by default).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp


def make_case(n_users: int, n_items: int, k: int, seed: int):
    from recsys_cl.data._encoded import EncodedSplit
    from recsys_cl.evaluation import Rankings

    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop /= pop.sum()
    n_test = rng.integers(1, 6, n_users)
    rows = np.repeat(np.arange(n_users), n_test)
    test = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, rng.choice(n_items, len(rows), p=pop))), shape=(n_users, n_items))
    test.sum_duplicates()
    n_train = rng.integers(0, 30, n_users)
    rows = np.repeat(np.arange(n_users), n_train)
    train = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, rng.choice(n_items, len(rows), p=pop))), shape=(n_users, n_items))
    train.sum_duplicates()
    # lists: distinct popular-ish items per user (sampled from the top 5,000 without repeats)
    items = np.argsort(rng.random((n_users, 64)), axis=1)[:, :k]  # distinct positions 0..63
    offset = rng.integers(0, 5000 - 64, n_users)[:, None]
    items = items + offset
    planted = rng.random(n_users) < 0.15
    first_rel = test.indices[test.indptr[:-1]]
    pos = rng.integers(0, k, n_users)
    clash = (items == first_rel[:, None]).any(axis=1)
    put = planted & ~clash
    items[np.flatnonzero(put), pos[put]] = first_rel[put]
    scores = np.tile(np.arange(k, 0, -1, dtype=np.float32), (n_users, 1))
    user_ids = np.array([f"u{i:07d}" for i in range(n_users)])
    item_ids = np.array([f"{i:010d}" for i in range(n_items)])
    empty = sp.csr_matrix((n_users, n_items), dtype=np.float32)
    enc = EncodedSplit("temporal", user_ids, item_ids, train, empty, test, empty, None)
    return enc, Rankings(user_ids, item_ids, np.arange(n_users, dtype=np.int64), items.astype(np.int64), scores, "synthetic")


def timed(fn, *args, **kw):
    start = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - start


def timed_cpu(fn, *args, **kw):
    """(result, wall s, CPU s): CPU time shows the cost on an idle core when other jobs share the machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def beyond_inputs(enc, n_types: int, dim: int, seed: int):
    """An item table with a ``product_type_name`` of ``n_types`` Zipf-distributed values (H&M has 131)
    and random ``dim``-dimensional item vectors."""
    import polars as pl

    from recsys_cl.embeddings import ItemEmbeddings

    rng = np.random.default_rng(seed)
    share = 1.0 / np.arange(1, n_types + 1)
    types = rng.choice(n_types, enc.n_items, p=share / share.sum())
    table = pl.DataFrame({"item_id": enc.item_ids, "product_type_name": np.char.add("type ", types.astype(str))})
    return table, ItemEmbeddings(enc.item_ids, rng.normal(size=(enc.n_items, dim)).astype(np.float32), "random")


def beyond_row(enc, rankings, ks, args) -> None:
    """evaluate() with and without the beyond-accuracy metrics: wall and CPU seconds (best of ``--repeat``)."""
    from recsys_cl.evaluation import METRICS, BeyondAccuracyConfig, evaluate

    table, embeddings = beyond_inputs(enc, args.types, args.emb_dim, args.seed)
    config = BeyondAccuracyConfig(diversity_attribute="product_type_name")
    beyond = ["coverage", "gini", "novelty", "avg_popularity", "tail_share", "seen_share", "diversity"]
    runs = {
        "accuracy only": {},
        "+ beyond-accuracy (no embeddings)": {"metrics": [*METRICS, *beyond], "item_table": table, "beyond": config},
        f"+ those and embedding_diversity (d={args.emb_dim})": {
            "metrics": [*METRICS, *beyond, "embedding_diversity"], "item_table": table, "beyond": config,
            "embeddings": embeddings,
        },
    }  # fmt: skip
    evaluate(rankings, enc, ks=ks, **list(runs.values())[-1])  # warm-up: first allocations, torch start-up
    times = {}
    for label, options in runs.items():  # the least wall and the least CPU time of the repeats
        trials = [timed_cpu(evaluate, rankings, enc, ks=ks, **options) for _ in range(args.repeat)]
        times[label] = (trials[0][0], min(t[1] for t in trials), min(t[2] for t in trials))
    (plain, t_plain, c_plain) = times["accuracy only"]
    import os

    print(f"beyond-accuracy metrics: evaluate() on {enc.n_users:,} users, {enc.n_items:,} items, K={rankings.k}, "
          f"cutoffs {ks} (best of {args.repeat}); beyond-accuracy = {', '.join(beyond)}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  {'accuracy only':<48} {t_plain:6.2f} s wall, {c_plain:6.2f} s CPU")
    for label, (res, t, c) in list(times.items())[1:]:
        added, added_cpu = t - t_plain, c - c_plain
        # wall time is the target; CPU time stands for it when other jobs share the cores (see the load)
        verdict = (f"target < 2 s added: wall {'PASS' if added < 2 else 'FAIL'}, CPU {'PASS' if added_cpu < 2 else 'FAIL'}"
                   if "embedding_diversity" not in label else "")
        print(f"  {label:<48} {t:6.2f} s wall, {c:6.2f} s CPU   added {added:5.2f} s wall, {added_cpu:5.2f} s CPU   "
              f"ratio {t / t_plain:4.2f}x   {verdict}")
    k = max(ks)
    print(f"  values @{k}: " + ", ".join(f"{m} {res.summary[f'{m}@{k}']:.4g}" for m in [*beyond, "embedding_diversity"]))
    for key, v in plain.per_user.items():  # the accuracy metrics are the same numbers with or without
        assert np.array_equal(v, res.per_user[key]), key


def kernel(enc, rankings, ks):
    from recsys_cl.evaluation import METRICS, compute_metrics, hit_matrix

    users = enc.eval_users("test")
    rel = enc.test[users]
    hits = hit_matrix(rankings.items[users], rel)
    return compute_metrics(hits, np.diff(rel.indptr), METRICS, ks)


def recbole_collect(enc, users, items, batch: int = 256):
    """RecBole's full-sort Collector step for ``rec.topk``: a dense per-batch positive matrix, positives
    gathered at the top-K positions, plus the number of positives per user (as in eval_batch_collect)."""
    import torch

    topk_idx = torch.from_numpy(items)
    parts = []
    for s in range(0, len(users), batch):
        sub = enc.test[users[s : s + batch]].tocoo()
        pos_matrix = torch.zeros((sub.shape[0], enc.n_items), dtype=torch.int)
        pos_matrix[torch.from_numpy(sub.row.astype(np.int64)), torch.from_numpy(sub.col.astype(np.int64))] = 1
        pos_len = pos_matrix.sum(dim=1, keepdim=True)
        parts.append(torch.cat((torch.gather(pos_matrix, 1, topk_idx[s : s + batch]), pos_len), dim=1))
    return torch.cat(parts)


def recbole_metrics(rec_topk, ks):
    """RecBole's Hit/MRR/NDCG/Recall/Precision/MAP classes on a ``rec.topk`` tensor (means rounded to 4 dp)."""
    from recsys_cl.compat.recbole import install_numpy_aliases

    install_numpy_aliases()  # RecBole's metrics use np.float (removed in NumPy 2)
    from recbole.evaluator.collector import DataStruct
    from recbole.evaluator.metrics import MAP, MRR, NDCG, Hit, Precision, Recall

    data = DataStruct()
    data.set("rec.topk", rec_topk)
    config = {"topk": list(ks), "metric_decimal_place": 4}
    out = {}
    for cls in (Hit, MRR, NDCG, Recall, Precision, MAP):
        out.update(cls(config).calculate_metric(data))
    return out


def torch_rec_topk(hits, n_rel):
    """RecBole's ``rec.topk`` layout: K positive flags then the number of positives, one row per user."""
    import torch

    return torch.from_numpy(np.concatenate([hits.astype(np.int32), n_rel.astype(np.int32)[:, None]], axis=1))


def compute_from(enc, rankings, users, ks):
    from recsys_cl.evaluation import METRICS, compute_metrics, hit_matrix

    rel = enc.test[users]
    return compute_metrics(hit_matrix(rankings.items[users], rel), np.diff(rel.indptr), METRICS, ks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=1_371_980)
    p.add_argument("--items", type=int, default=105_542)
    p.add_argument("--ref-users", type=int, default=100_000, help="users for the ranx / RecBole comparison")
    p.add_argument("--k", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--collector-users", type=int, default=10_000,
                   help="users for timing RecBole's dense-matrix collector (~2.5 ms per user at 105k items)")
    p.add_argument("--skip-ranx", action="store_true")
    p.add_argument("--beyond-only", action="store_true", help="only the beyond-accuracy row")
    p.add_argument("--emb-dim", type=int, default=128, help="item-vector width for embedding_diversity")
    p.add_argument("--types", type=int, default=131, help="distinct attribute values for diversity (H&M: 131 product types)")
    p.add_argument("--repeat", type=int, default=2, help="timings of the beyond-accuracy row (best kept)")
    args = p.parse_args()
    ks = sorted({10, args.k}) if args.k >= 10 else [args.k]

    from recsys_cl.evaluation import evaluate

    enc, rankings = make_case(args.users, args.items, args.k, args.seed)
    if args.beyond_only:
        beyond_row(enc, rankings, ks, args)
        return
    print(f"metrics: {args.users:,} users, {args.items:,} items, K={args.k}, cutoffs {ks}, 6 metrics")
    kernel(enc, rankings, ks)  # warm-up (page faults of first allocations)
    values, t_kernel, c_kernel = timed_cpu(kernel, enc, rankings, ks)
    res, t_eval, c_eval = timed_cpu(evaluate, rankings, enc, ks=ks)
    print(f"  recsys_cl metrics (hit matrix + 6 metrics x {len(ks)} cutoffs): {t_kernel:6.2f} s wall, {c_kernel:6.2f} s CPU   "
          f"target < 2 s: {'PASS' if t_kernel < 2 else 'FAIL'}")
    print(f"  recsys_cl evaluate() (+ id checks, segments, coverage):       {t_eval:6.2f} s wall, {c_eval:6.2f} s CPU   "
          f"ndcg@{args.k} = {res.summary[f'ndcg@{args.k}']:.4f}, map@{args.k} = {res.summary[f'map@{args.k}']:.4f}")
    beyond_row(enc, rankings, ks, args)

    n = min(args.ref_users, args.users)
    enc_s, rank_s = make_case(n, args.items, args.k, args.seed + 1)
    ours, t_ours = timed(kernel, enc_s, rank_s, ks)
    print(f"reference comparison on {n:,} users")
    print(f"  recsys_cl: {t_ours:8.3f} s")

    users_s = enc_s.eval_users("test")
    from recsys_cl.evaluation import hit_matrix

    rel_s = enc_s.test[users_s]
    rec_topk = torch_rec_topk(hit_matrix(rank_s.items[users_s], rel_s), np.diff(rel_s.indptr))
    recbole_metrics(rec_topk[:10], ks)  # warm-up: importing RecBole is not counted
    rb, t_rb = timed(recbole_metrics, rec_topk, ks)
    rb_diff = max(abs(rb[f"{'hit' if m == 'hr' else m}@{k}"] - round(float(ours[f'{m}@{k}'].mean()), 4))
                  for m in ("hr", "mrr", "ndcg", "recall", "precision", "map") for k in ks)
    print(f"  RecBole metric classes (Hit, MRR, NDCG, Recall, Precision, MAP) on the same top-K: {t_rb:8.3f} s   "
          f"ratio RecBole / recsys_cl = {t_rb / t_ours:.1f}x   max |mean difference| (RecBole rounds to 4 dp): {rb_diff:.1e}")
    m = min(args.collector_users, len(users_s))
    sub_users = users_s[:m]
    _, t_ours_m = timed(lambda: compute_from(enc_s, rank_s, sub_users, ks))
    (collected), t_coll = timed(recbole_collect, enc_s, sub_users, rank_s.items[sub_users])
    _, t_rb_m = timed(recbole_metrics, collected, ks)
    print(f"  RecBole collector (dense positive matrix per batch) + metrics on {m:,} users: {t_coll + t_rb_m:8.2f} s   "
          f"ratio to recsys_cl on the same users = {(t_coll + t_rb_m) / t_ours_m:.0f}x")

    if not args.skip_ranx:
        from ranx import evaluate as ranx_evaluate

        from recsys_cl.evaluation import qrels_from_split

        def build():
            return qrels_from_split(enc_s, "test"), rank_s.to_ranx_run()

        names = [f"{m}@{k}" for m in ("hit_rate", "precision", "recall", "mrr", "ndcg", "map") for k in ks]
        qrels, run = build()
        ranx_evaluate(qrels, run, names)  # warm-up: numba compilation is not counted
        (qrels, run), t_build = timed(build)
        _, t_rx = timed(ranx_evaluate, qrels, run, names)
        users = enc_s.user_ids[enc_s.eval_users("test")]
        n_rel = np.diff(enc_s.test[enc_s.eval_users("test")].indptr)
        worst = 0.0
        for m, name in zip(["hr", "precision", "recall", "mrr", "ndcg", "map"], ("hit_rate", "precision", "recall", "mrr", "ndcg", "map")):
            for k in ks:
                ref = np.array([run.scores[f"{name}@{k}"][u] for u in users])
                mine = ours[f"{m}@{k}"] * (np.minimum(n_rel, k) / n_rel if m == "map" else 1.0)  # ranx AP / |R|
                worst = max(worst, float(np.abs(mine - ref).max()))
        print(f"  ranx build Run/Qrels: {t_build:8.2f} s   ranx evaluate: {t_rx:6.2f} s   "
              f"ratio ranx (build + evaluate) / recsys_cl = {(t_build + t_rx) / t_ours:8.0f}x   "
              f"evaluate only: {t_rx / t_ours:6.0f}x   max |per-user difference|: {worst:.1e}")


if __name__ == "__main__":
    main()
