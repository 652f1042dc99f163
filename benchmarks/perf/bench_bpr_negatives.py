"""RecBole BPR on MovieLens-100K loo with negatives drawn from the trained items (recsys-cl's sampler) vs
from every item (RecBole's own), the same seeds for both: is the gap bigger than BPR's seed-to-seed spread?

    python benchmarks/perf/bench_bpr_negatives.py --seeds 0,1,2,3,4,5

Prints nDCG@10 / HR@10 over all test users and the kept epoch per fit, then a paired t-test and Wilcoxon
test over seeds. Under loo only the items that appear in valid or test alone (4 of 1,682) leave the pool,
but the pool is indexed by the random draw, so every draw returns another item than RecBole's would.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import recsys_cl.models.recbole._data as recbole_data  # noqa: E402
from bench_backends import quality  # noqa: E402
from recsys_cl.data import EncodedSplit, loo, read_atomic  # noqa: E402
from recsys_cl.data._movielens import recbole_ml100k_dir  # noqa: E402
from recsys_cl.models import create  # noqa: E402

ORIGINAL = recbole_data.loader_classes


def loader_classes_drawing_from(pool: str):  # type: ignore[no-untyped-def]
    def classes():  # type: ignore[no-untyped-def]
        sampler, loader = ORIGINAL()
        if pool == "every item":  # RecBole's own draw: randint(1, item_num), the same random stream
            sampler._negative_pool = lambda self: np.arange(1, self.item_num, dtype=np.int64)
        return sampler, loader

    return classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    src = recbole_ml100k_dir()
    inter = read_atomic(src / "ml-100k.inter").select("user_id", "item_id", "timestamp")
    items = read_atomic(src / "ml-100k.item")
    encoded = EncodedSplit.from_split(loo(inter), items.select("item_id"))
    scores: dict[str, list[float]] = {}
    for pool in ("trained items", "every item"):
        recbole_data.loader_classes = loader_classes_drawing_from(pool)
        for seed in seeds:
            start = time.perf_counter()
            model = create("bpr-recbole", seed=seed).fit(encoded, None)
            hr, ndcg = quality(model.recommend(k=10), encoded)
            scores.setdefault(pool, []).append(ndcg)
            print(f"{pool:14} seed {seed}: nDCG@10 {ndcg:.4f} HR@10 {hr:.4f} kept epoch "
                  f"{getattr(model, 'best_epoch', '?')} ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    recbole_data.loader_classes = ORIGINAL
    a, b = np.array(scores["trained items"]), np.array(scores["every item"])
    print(f"\nmean nDCG@10: trained items {a.mean():.4f} (sd {a.std(ddof=1):.4f}), every item {b.mean():.4f} "
          f"(sd {b.std(ddof=1):.4f}); lower in {int((a < b).sum())} of {len(a)} seeds")  # fmt: skip
    if len(a) > 1:
        print(f"paired t-test p {stats.ttest_rel(a, b).pvalue:.3f}; Wilcoxon p {stats.wilcoxon(a, b).pvalue:.3f}")


if __name__ == "__main__":
    main()
