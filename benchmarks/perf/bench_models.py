"""RecBole backends on MovieLens-100K: fit + recommend seconds (loo split), and RecBole's own BPR protocol.

    python benchmarks/perf/bench_models.py                       # every RecBole backend, default settings
    python benchmarks/perf/bench_models.py --models lightgcn --threads 1
    python benchmarks/perf/bench_models.py --skip-protocol       # only the loo table

Part 1 (issue 4 / issue 15 target: every model fits in under 2 minutes on 2 CPU cores): each backend
(NCL and SimpleX included) with its default config on the loo split (full ranking, training items excluded), plus the ``fuse`` variants
fed the movies' genre multi-hot vectors; HR@10 / nDCG@10 beside Pop's from the same run. The sequential
models (SASRec, GRU4Rec, CORE, and content variants with the genre vectors as their item table) encode each
user's training items only, so under loo their test item is the second after the sequence (the valid item
comes between), as every model here sees train only.

Part 2: RecBole's BPR under RecBole's own default protocol (random 8:1:1 split per user, full
ranking, valid_metric MRR@10, its quick-start settings), built without ``recbole.quick_start``,
against the test results RecBole publishes in its quick-start guide
(RUCAIBox/RecBole docs/source/get_started/quick_start.rst, two published runs: v1.1 docs and v1.0 docs);
RecBole publishes no run-to-run spread, so the range between those two runs is the yardstick.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backends import BUDGET_SECONDS, K, genre_embeddings, quality  # noqa: E402

from recsys_cl.data import EncodedSplit, loo, read_atomic  # noqa: E402
from recsys_cl.data._movielens import recbole_ml100k_dir  # noqa: E402
from recsys_cl.models import create  # noqa: E402
import recsys_cl.models.recbole  # noqa: E402,F401  (registers the RecBole backends)

MODELS = {
    "bpr-recbole": ({}, False),
    "neumf": ({}, False),
    "lightgcn": ({}, False),
    "sgl": ({}, False),
    "ncl": ({}, False),
    "simplex": ({}, False),
    "bpr-recbole(fuse)": ({"content": "fuse"}, True),
    "lightgcn(fuse)": ({"content": "fuse"}, True),
    # sequential models (each user's training items in time order; valid / test: the next items)
    "sasrec": ({}, False),
    "gru4rec": ({}, False),
    "core": ({}, False),
    "sasrec(fuse)": ({"content": "fuse"}, True),
    "sasrec(frozen)": ({"content": "frozen"}, True),
    "core(frozen)": ({"content": "frozen"}, True),
}

#: RecBole quick-start guide, BPR on ml-100k, test set (v1.1 docs run / v1.0 docs run)
PUBLISHED_BPR = {
    "recall@10": (0.2416, 0.2523),
    "mrr@10": (0.4709, 0.4855),
    "ndcg@10": (0.2863, 0.2920),
    "hit@10": (0.7701, 0.7953),
    "precision@10": (0.1937, 0.1962),
}


def loo_table(names: list[str], threads: int) -> None:
    src = recbole_ml100k_dir()
    inter = read_atomic(src / "ml-100k.inter").select("user_id", "item_id", "timestamp")
    items = read_atomic(src / "ml-100k.item")
    encoded = EncodedSplit.from_split(loo(inter), items.select("item_id"))
    genres = genre_embeddings(items)
    print(f"ml-100k loo: {encoded.n_users} users, {encoded.n_items} items, {len(encoded.eval_users('test'))} test users; "
          f"torch threads {'backend default (1)' if threads is None else threads or torch.get_num_threads()}")
    pop = create("pop").fit(encoded)
    pop_hr, pop_ndcg = quality(pop.recommend(k=K), encoded)
    print(f"{'model':<20} {'fit s':>8} {'rec s':>7} {'budget':>7} {'epochs':>7} {'HR@10':>7} {'nDCG@10':>8}")
    print(f"{'pop':<20} {pop.fit_seconds:8.2f} {pop.recommend_seconds:7.2f} {'':>7} {'':>7} {pop_hr:7.4f} {pop_ndcg:8.4f}")
    for name in names:
        params, content = MODELS[name]
        model = create(name.split("(")[0], **params, **({} if threads is None else {"num_threads": threads}))
        model.fit(encoded, genres if content else None)
        hr, ndcg = quality(model.recommend(k=K), encoded)
        best = "" if model.best_epoch is None else str(model.best_epoch + 1)
        print(
            f"{name:<20} {model.fit_seconds:8.1f} {model.recommend_seconds:7.2f} "
            f"{model.fit_seconds / BUDGET_SECONDS:6.0%} {best:>7} {hr:7.4f} {ndcg:8.4f}",
            flush=True,
        )


def recbole_protocol(threads: int) -> None:
    """RecBole BPR, RecBole's default protocol and quick-start settings, RecBole's evaluator."""
    from recbole.data import create_dataset
    from recbole.model.general_recommender import BPR
    from recbole.utils import init_seed

    from recsys_cl.compat.recbole import make_config, make_trainer, prepare_loaders
    from recsys_cl.models.recbole._backends import torch_threads

    with tempfile.TemporaryDirectory() as tmp, torch_threads(1 if threads is None else threads):
        settings = {
            "data_path": str(recbole_ml100k_dir().parent),
            "checkpoint_dir": tmp,
            "epochs": 500,
            "train_batch_size": 4096,
            "eval_batch_size": 4096,
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": False, "candidate_num": 0},
            "eval_args": {"group_by": "user", "order": "RO", "split": {"RS": [0.8, 0.1, 0.1]}, "mode": "full"},
            "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"],
            "topk": 10,
            "valid_metric": "MRR@10",
            "metric_decimal_place": 4,
            "show_progress": False,
        }
        config = make_config("BPR", settings, "cpu", dataset="ml-100k")
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        train, valid, test = prepare_loaders(config, dataset)  # data_preparation with RecBole's own classes
        init_seed(config["seed"], config["reproducibility"])
        net = BPR(config, train._dataset).to(config["device"])
        trainer = make_trainer(config, net)
        start = time.perf_counter()
        trainer.fit(train, valid, saved=True, show_progress=False)
        result = trainer.evaluate(test, load_best_model=True)
        seconds = time.perf_counter() - start
    print(f"\nRecBole BPR, RecBole protocol (RS 8:1:1, full ranking), seed {config['seed']}: "
          f"best epoch {trainer.best_epoch + 1}, {seconds:.0f} s")
    print(f"{'metric':<14} {'ours':>7} {'published (2 runs)':>20} {'inside?':>8}")
    for metric, (low, high) in PUBLISHED_BPR.items():
        ours = float(result[metric])
        print(f"{metric:<14} {ours:7.4f} {f'{low:.4f} / {high:.4f}':>20} {'yes' if low - 1e-4 <= ours <= high + 1e-4 else 'no':>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (0 = torch's default; unset = each backend's default, one thread)")
    parser.add_argument("--skip-protocol", action="store_true", help="skip RecBole's own BPR protocol")
    args = parser.parse_args()
    if args.models:
        loo_table(args.models, args.threads)
    if not args.skip_protocol:
        recbole_protocol(args.threads)


if __name__ == "__main__":
    main()
