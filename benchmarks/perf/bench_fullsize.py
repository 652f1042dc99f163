"""Full-size H&M: top-12 over every item for every user with the evaluator, content-kNN and ALS.

    python benchmarks/perf/bench_fullsize.py                  # scale 0.02 (about a minute)
    python benchmarks/perf/bench_fullsize.py --scale 1.0      # 1,371,980 customers, 105,542 articles, 31.8M rows
    python benchmarks/perf/bench_fullsize.py --scale 1.0 --device cuda   # the CUDA path (GPU machines)

On the loo split of synthetic H&M at the scale (prepared by our adapter, cached under datasets/perf/),
each in its own child process with time and peak RSS per stage:

* evaluator: random 64-d user and item factors (seeded), ``topk_from_factors`` for every user over every
  item with the user's training items excluded (torch matmul + topk in chunks of ~512 MB of scores),
  then ``evaluate`` (HR, nDCG, recall, precision, MRR, MAP at 12, segments). CUDA path: the same call
  with ``device="cuda"`` (``device: auto`` picks CUDA when there is one): the chunked matmul and topk run
  on the GPU, the training matrix of each chunk is sent with it, only the top-12 come back.
  Target (scale issue): under 10 minutes on 2 CPU cores, in bounded memory.
* content-kNN: random 64-d item embeddings (no encoder at this size: the cost of the model is what is
  measured), fit (recency weights) + recommend top-12 for every test user (profiles ranked by the shared
  top-K, ``topk_from_factors``).
* ALS (implicit, 64 factors): fit + recommend top-12 for every test user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import FULL, Stages, prepared, rss_mb, run_child  # noqa: E402

K = 12


def child_eval(dataset_dir: str, dim: int, device: str, seed: int = 0) -> dict:
    import numpy as np
    import torch

    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.evaluation import evaluate, topk_from_factors
    from recsys_cl.evaluation._topk import rankings_from_topk

    torch.set_num_threads(2)
    base = rss_mb()
    stages = Stages()
    with stages("load split + encode"):
        encoded = load_dataset(dataset_dir).encoded("loo")
    rng = np.random.default_rng(seed)
    with stages(f"random {dim}-d factors"):
        user_f = rng.standard_normal((encoded.n_users, dim), dtype=np.float32)
        item_f = rng.standard_normal((encoded.n_items, dim), dtype=np.float32)
    users = np.arange(encoded.n_users)
    with stages(f"top-{K} over all items, train excluded"):
        items, scores = topk_from_factors(user_f, item_f, K, users=users, exclude=encoded.train, device=device)
    with stages("evaluate (6 metrics @12, segments)"):
        result = evaluate(rankings_from_topk(encoded, users, items, scores, "random"), encoded, ks=(K,))
    rows, cols = np.repeat(users[:20000], K), items[:20000].ravel()
    leaked = int(np.asarray(encoded.train[rows[cols >= 0], cols[cols >= 0]]).sum())
    return {"stages": stages.seconds, "stage_peak_mb": stages.peak_mb, "peak_mb": rss_mb(), "base_mb": base,
            "users": encoded.n_users, "items": encoded.n_items, "interactions": _interactions(encoded),
            "eval_users": result.n_users, "summary": {k: result.summary[k] for k in result.summary if k.endswith(f"@{K}")},
            "excluded_items_returned_first_20000_users": leaked}


def _interactions(encoded) -> int:
    return int(encoded.train.sum() + encoded.valid.sum() + encoded.test.sum())


def child_model(dataset_dir: str, name: str, dim: int, epochs: int, seed: int = 0) -> dict:
    import numpy as np

    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.embeddings._io import ItemEmbeddings
    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    base = rss_mb()
    stages = Stages()
    with stages("load split + encode"):
        encoded = load_dataset(dataset_dir).encoded("loo")
    embeddings = None
    if name == "content-knn":
        vectors = np.random.default_rng(seed).standard_normal((encoded.n_items, dim), dtype=np.float32)
        embeddings = ItemEmbeddings(encoded.item_ids, vectors, "random")
        model = create("content-knn")
    else:
        model = create("implicit-als", factors=dim, epochs=epochs, num_threads=2)
    with stages("fit"):
        model.fit(encoded, embeddings)
    with stages(f"recommend top-{K} for every test user"):
        rankings = model.recommend(k=K)
    with stages("evaluate"):
        result = evaluate(rankings, encoded, ks=(K,))
    return {"stages": stages.seconds, "stage_peak_mb": stages.peak_mb, "peak_mb": rss_mb(), "base_mb": base,
            "users": encoded.n_users, "items": encoded.n_items, "interactions": _interactions(encoded),
            "ranked_users": len(rankings), "summary": {k: result.summary[k] for k in (f"map@{K}", f"ndcg@{K}", f"hr@{K}")}}


def print_result(title: str, r: dict) -> None:
    if r.get("killed"):
        print(f"{title}: stopped at {r['rss_mb']:.0f} MB RSS (ceiling {r['ceiling_mb']:.0f} MB) after {r['seconds']:.0f} s")
        return
    total = sum(r["stages"].values())
    print(f"{title}: {r['users']:,} users x {r['items']:,} items, {r['interactions']:,} interactions")
    for stage, seconds in r["stages"].items():
        print(f"      {stage:44s} {seconds:8.1f} s   peak so far {r['stage_peak_mb'][stage]:7.0f} MB")
    print(f"  total {total:.1f} s, peak RSS {r['peak_mb']:.0f} MB (after imports {r['base_mb']:.0f} MB); "
          + ", ".join(f"{k} {v:.4f}" for k, v in r["summary"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02, help="share of full H&M size (default 0.02; 1.0 = full)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (top-K of the evaluator step)")
    parser.add_argument("--als-epochs", type=int, default=15)
    parser.add_argument("--steps", default="eval,content-knn,als", help="comma list of eval, content-knn, als")
    parser.add_argument("--ceiling-mb", type=float, default=16_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (child_eval(args.dir, args.dim, args.device) if args.child == "eval"
                  else child_model(args.dir, args.child, args.dim, args.als_epochs))
        print(json.dumps(result))
        return
    directory, made = prepared(args.scale)
    if made:
        print(f"prepared synthetic H&M at scale {args.scale:g}: {made['interactions']:,} interactions in {made['seconds']:.1f} s")
    steps = args.steps.split(",")
    common = ["--dir", str(directory), "--dim", str(args.dim), "--device", args.device, "--als-epochs", str(args.als_epochs)]
    if "eval" in steps:
        r = run_child(__file__, ["--child", "eval", *common], args.ceiling_mb)
        print_result(f"evaluator: random {args.dim}-d factors, top-{K} for every user, device {args.device}", r)
        if not r.get("killed"):
            seconds = sum(r["stages"].values())
            print(f"  excluded (training) items returned, first 20,000 users: {r['excluded_items_returned_first_20000_users']}")
            print(f"  CUDA path: --device cuda runs the same chunked matmul + topk on the GPU (device: auto picks it)")
            if args.scale == 1.0:
                print(f"  target (< 600 s on 2 CPU cores): {'PASS' if seconds < 600 else 'FAIL'} ({seconds:.0f} s)")
    if "content-knn" in steps:
        print_result(f"content-kNN ({args.dim}-d random item vectors)", run_child(__file__, ["--child", "content-knn", *common], args.ceiling_mb))
    if "als" in steps:
        print_result(f"ALS (implicit, {args.dim} factors, {args.als_epochs} epochs)", run_child(__file__, ["--child", "als", *common], args.ceiling_mb))
    print(f"(full H&M: {FULL['customers']:,} customers, {FULL['articles']:,} articles, {FULL['transactions']:,} transactions)")


if __name__ == "__main__":
    main()
