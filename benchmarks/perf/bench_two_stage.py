"""The two-stage model at H&M scale: seconds and peak memory per stage (candidates, features, training,
scoring), with repurchase (its strongest generator) as the peer measured in the same run.

    python benchmarks/perf/bench_two_stage.py                     # 5% of H&M, test-week customers ranked
    python benchmarks/perf/bench_two_stage.py --users all         # every customer ranked (a Kaggle submission)
    python benchmarks/perf/bench_two_stage.py --scale 1.0 --users all   # full size: 1.37M customers, 105k articles

Data: the synthetic H&M sample of ``bench_fashion.py`` (fashion-retail options on, temporal split, cached
under ``datasets/perf/``). Generators: repurchase, segment-pop, product-variants, bought-together and
decayed-pop, 20 each (100 listed per customer, fewer distinct where lists overlap); every feature family;
``--content`` adds content-kNN over 64-d item vectors (TF-IDF of the item text, reduced by SVD) and the
embedding features. Each run is a child process, so its peak resident memory is its own.

Stages (times summed over every chunk of customers and both cut-offs, the ranker's training window and
the end of training): ``generators`` fitting the candidate generators, ``candidates`` their top-N lists
and the union, ``features`` the polars joins, ``training`` LightGBM, ``scoring`` the ranker's predictions
and the top-12 lists. ``MB`` is the process's peak resident memory at the end of the stage's last call
(the peak so far, as ``_perf.Stages``). The full-size target is candidates + features for every customer
in under 15 minutes and 12 GB on 2 cores; scales that cannot run here are extrapolated by the caller
from the seconds per million customers the output prints.

Measured (2 cores shared with other engineers' jobs, load average 4-11; one LightGBM thread):

* 5% (6,127 test-week customers ranked): candidates + features 9.8 s, training 29 s, scoring 11 s, fit +
  recommend 60 s (repurchase alone 1.1 s), peak 1.1 GB; test MAP@12 0.1666 vs repurchase's 0.1527.
* 10%, ``--users all`` (130,432 customers): candidates + features 75.5 s (51.8 s of it ranking everyone),
  training 65 s, scoring 122 s, fit + recommend 295 s, peak 1.7 GB; valid MAP@12 0.1731 vs 0.1629.
* full size, ``--scale 1.0 --users all`` (1,304,187 customers x 105,542 articles): candidates + features
  561.6 s (378.4 s of it ranking everyone), generators 108 s, training 469 s (5.0M rows, 150 rounds, best
  130), scoring 1,007 s, fit + recommend 2,434 s, peak 9.2 GB (4.1 GB after loading the split): within the
  15 min / 12 GB target for candidates + features. Scoring (LightGBM predictions for every candidate, then
  the top-12) is the largest stage. Valid MAP@12 0.1323 vs repurchase's 0.1245.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import rss_mb, run_child, sizes  # noqa: E402
from bench_fashion import SYNTH_OPTIONS, dataset  # noqa: E402

GENERATORS = ["repurchase", "segment-pop", "product-variants", "bought-together", "decayed-pop"]
STAGES = ("generators", "candidates", "features", "training", "scoring")


def _timed(owner: Any, name: str, stage: str, clock: dict[str, Any]) -> None:
    """Replace ``owner.name`` by a wrapper adding its wall time to ``clock[stage]`` (and the peak RSS so far)."""
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            clock["seconds"][stage] = clock["seconds"].get(stage, 0.0) + time.perf_counter() - start
            clock["peak_mb"][stage] = rss_mb()

    setattr(owner, name, wrapper)


def child_two_stage(data: str, users: str, content: bool, threads: int) -> dict[str, Any]:
    import lightgbm

    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create
    from recsys_cl.models import _two_stage as two_stage
    from recsys_cl.models._two_stage_features import Stage

    dataset = load_dataset(data)
    encoded = dataset.encoded("temporal")
    load_mb = rss_mb()
    embeddings = _content_vectors(dataset) if content else None
    clock: dict[str, Any] = {"seconds": {}, "peak_mb": {}}
    _timed(two_stage.TwoStage, "_fit_generators", "generators", clock)
    _timed(Stage, "candidates", "candidates", clock)
    _timed(Stage, "frame", "frame", clock)  # features = frame - candidates
    _timed(lightgbm, "train", "training", clock)
    _timed(two_stage.TwoStage, "_predict", "scoring", clock)
    _timed(two_stage.TwoStage, "_rank", "scoring", clock)
    generators = [{"model": g} for g in GENERATORS] + ([{"model": "content-knn"}] if content else [])
    model = create("two-stage", generators=generators, num_threads=threads).fit(encoded, embeddings)
    fit_clock = json.loads(json.dumps(clock))
    fit_peak = rss_mb()
    who = None if users == "test" else encoded.user_ids
    rankings = model.recommend(who, k=12, exclude_seen=False)
    out: dict[str, Any] = {"fit_seconds": model.fit_seconds, "recommend_seconds": model.recommend_seconds,
                           "load_mb": load_mb, "fit_peak_mb": fit_peak, "peak_mb": rss_mb(), "users": len(rankings.users),
                           "n_users": encoded.n_users, "n_items": encoded.n_items, "fit": fit_clock, "all": clock,
                           "training_rows": model.diagnostics["training"]["rows"], "rounds": model.diagnostics["training"]["rounds"],
                           "best_round": model.diagnostics["training"]["best_round"],
                           "valid": model.diagnostics.get("valid"), "test": model.diagnostics.get("test"),
                           "importance": model.diagnostics["feature_importance_gain"]}  # fmt: skip
    for part in (out["fit"], out["all"]):
        part["seconds"]["features"] = part["seconds"].pop("frame", 0.0) - part["seconds"].get("candidates", 0.0)
        part["peak_mb"]["features"] = part["peak_mb"].pop("frame", 0.0)
    if users == "test":
        result = evaluate(rankings, encoded, metrics=["map", "hr"], ks=[12], exclude_seen=False)
        out.update({"map@12": result.summary["map@12"], "hr@12": result.summary["hr@12"]})
    return out


def _content_vectors(dataset: Any) -> Any:
    """64-d item vectors: TF-IDF of the item text reduced by truncated SVD (a stand-in for a learned embedding)."""
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    from recsys_cl.embeddings._io import ItemEmbeddings

    items = dataset.items
    tfidf = TfidfVectorizer(max_features=2000).fit_transform(items["text"].to_list())
    vectors = TruncatedSVD(64, random_state=0).fit_transform(tfidf).astype(np.float32)
    return ItemEmbeddings(items["item_id"].to_numpy().astype(str), vectors, "tfidf-svd64")


def child_peer(data: str, users: str) -> dict[str, Any]:
    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    encoded = load_dataset(data).encoded("temporal")
    load_mb = rss_mb()
    model = create("repurchase").fit(encoded)
    who = None if users == "test" else encoded.user_ids
    rankings = model.recommend(who, k=12, exclude_seen=False)
    out = {"fit_seconds": model.fit_seconds, "recommend_seconds": model.recommend_seconds, "load_mb": load_mb, "peak_mb": rss_mb()}
    if users == "test":
        result = evaluate(rankings, encoded, metrics=["map", "hr"], ks=[12], exclude_seen=False)
        out.update({"map@12": result.summary["map@12"], "hr@12": result.summary["hr@12"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", choices=["test", "all"], default="test", help="rank the test week's customers or all")
    parser.add_argument("--content", action="store_true", help="add content-kNN and the embedding features (64-d TF-IDF/SVD)")
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads")
    args = parser.parse_args()
    data = dataset(args.scale, args.seed)
    print(f"synthetic H&M at scale {args.scale:g} ({sizes(args.scale)}), options {SYNTH_OPTIONS}; temporal split; "
          f"users={args.users}, content={args.content}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    peer = run_child(Path(__file__), ["peer", str(data), args.users])
    run = run_child(Path(__file__), ["two-stage", str(data), args.users, str(int(args.content)), str(args.threads)])
    if run.get("killed"):
        print(f"two-stage: stopped above {run['ceiling_mb']:.0f} MB after {run['seconds']:.0f} s")
        return
    print(f"{run['n_users']:,} customers x {run['n_items']:,} articles in the split; ranked {run['users']:,}; "
          f"ranker trained on {run['training_rows']:,} candidate rows, {run['rounds']} rounds (best {run['best_round']})")
    print(f"{'stage':<12} {'fit s':>8} {'fit MB':>8} {'fit+rec s':>10} {'MB':>8}")
    for stage in STAGES:
        print(f"{stage:<12} {run['fit']['seconds'].get(stage, 0.0):8.1f} {run['fit']['peak_mb'].get(stage, 0.0):8.0f} "
              f"{run['all']['seconds'].get(stage, 0.0):10.1f} {run['all']['peak_mb'].get(stage, 0.0):8.0f}")
    rec_candidates = run["all"]["seconds"].get("candidates", 0.0) - run["fit"]["seconds"].get("candidates", 0.0)
    rec_features = run["all"]["seconds"].get("features", 0.0) - run["fit"]["seconds"].get("features", 0.0)
    print(f"recommend: candidates {rec_candidates:.1f} s + features {rec_features:.1f} s for {run['users']:,} customers "
          f"= {(rec_candidates + rec_features) / max(run['users'], 1) * 1e6:.0f} s per million customers")
    total, peer_total = run["fit_seconds"] + run["recommend_seconds"], peer["fit_seconds"] + peer["recommend_seconds"]
    print(f"{'model':<12} {'fit s':>8} {'rec s':>8} {'total/peer':>10} {'load MB':>8} {'peak MB':>8} {'MAP@12':>7} {'HR@12':>7}")
    for name, r in (("repurchase", peer), ("two-stage", run)):
        print(f"{name:<12} {r['fit_seconds']:8.1f} {r['recommend_seconds']:8.1f} "
              f"{(r['fit_seconds'] + r['recommend_seconds']) / peer_total:10.2f} {r['load_mb']:8.0f} {r['peak_mb']:8.0f} "
              f"{r.get('map@12', float('nan')):7.4f} {r.get('hr@12', float('nan')):7.4f}")
    if run.get("valid"):
        print("valid part (diagnostics):", json.dumps(run["valid"]))
    if run.get("test"):
        print("test part (diagnostics):", json.dumps(run["test"]))
    top = sorted(run["importance"].items(), key=lambda kv: -kv[1])[:8]
    print("top features by gain:", ", ".join(f"{k} {v:.0f}" for k, v in top))
    print(f"two-stage total {total:.1f} s; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    if len(sys.argv) > 1 and sys.argv[1] == "two-stage":
        print(json.dumps(child_two_stage(sys.argv[2], sys.argv[3], bool(int(sys.argv[4])), int(sys.argv[5]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "peer":
        print(json.dumps(child_peer(sys.argv[2], sys.argv[3])))
    else:
        main()
