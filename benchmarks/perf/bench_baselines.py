"""The simple strong baselines on MovieLens-100K loo, one thread: fit seconds beside ItemKNN's, HR@10 / nDCG@10.

    python benchmarks/perf/bench_baselines.py                  # speed + quality table (issue 26 target below)
    python benchmarks/perf/bench_baselines.py --recbole        # also RecBole's EASE / ItemKNN / SLIMElastic on the same split
    python benchmarks/perf/bench_baselines.py --memory 8000    # EASE's peak memory on 8,000 items (child process)

Target (issue 26): EASE and RP3beta fit in under 5 s on one thread; the ratio to ItemKNN's fit in the same run
is printed, as the machine is shared. ``--recbole`` is the cross-check against an independent implementation:
RecBole's EASE must give the same lists as ours, its ItemKNN (cosine, pruned by target item) the same as ours with
``keep_neighbours_of: target``, its SLIMElastic (unseeded coordinate descent, no pruning) the same metrics
within run-to-run noise. ``--memory N`` measures EASE's peak resident memory over the process's baseline on a
random N-item matrix, against the ``n_items^2 x 4 bytes`` of one float32 matrix (the model's refusal assumes 2x).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backends import K, quality  # noqa: E402

from recsys_cl.data import EncodedSplit, loo, read_atomic  # noqa: E402
from recsys_cl.data._movielens import recbole_ml100k_dir  # noqa: E402
from recsys_cl.device import torch_threads  # noqa: E402
from recsys_cl.models import create  # noqa: E402

TARGET_SECONDS = 5.0
#: label -> (registry name, params); every model single-threaded
MODELS = {
    "pop": ("pop", {}),
    "itemknn": ("itemknn", {"num_threads": 1}),
    "itemknn(target)": ("itemknn", {"num_threads": 1, "keep_neighbours_of": "target"}),
    "itemknn(jaccard,bm25)": ("itemknn", {"num_threads": 1, "similarity": "jaccard", "weighting": "bm25"}),
    "rp3beta": ("rp3beta", {}),
    "ease": ("ease", {"num_threads": 1}),
    "slim": ("slim", {"num_threads": 1}),
}
#: RecBole model, its params, our label to compare with, and that model's params
RECBOLE = [
    ("EASE", {"reg_weight": 500.0}, "ease", ("ease", {"reg": 500.0, "num_threads": 1})),
    ("ItemKNN", {"k": 100, "shrink": 0.0}, "itemknn(target)", ("itemknn", {"keep_neighbours_of": "target"})),
    ("ItemKNN", {"k": 100, "shrink": 10.0}, "itemknn(target, shrink 10)", ("itemknn", {"keep_neighbours_of": "target", "shrink": 10.0})),
    ("SLIMElastic", {"alpha": 1e-3, "l1_ratio": 0.1, "positive_only": True, "hide_item": True}, "slim(all weights)",
     ("slim", {"alpha": 1e-3, "l1_ratio": 0.1, "neighbours": 100_000, "num_threads": 1})),
]  # fmt: skip


def ml100k_loo() -> EncodedSplit:
    src = recbole_ml100k_dir()
    inter = read_atomic(src / "ml-100k.inter").select("user_id", "item_id", "timestamp")
    return EncodedSplit.from_split(loo(inter))


def speed_table(encoded: EncodedSplit) -> None:
    from threadpoolctl import threadpool_limits

    print(f"ml-100k loo: {encoded.n_users} users, {encoded.n_items} items; one thread (BLAS, torch, models)")
    print(f"{'model':<24} {'fit s':>7} {'x itemknn':>9} {'rec s':>6} {'HR@10':>7} {'nDCG@10':>8}")
    fits: dict[str, float] = {}
    with threadpool_limits(limits=1), torch_threads(1):
        for label, (name, params) in MODELS.items():
            model = create(name, **params).fit(encoded)
            hr, ndcg = quality(model.recommend(k=K), encoded)
            fits[label] = model.fit_seconds or 0.0
            ratio = fits[label] / fits["itemknn"] if "itemknn" in fits else float("nan")
            print(f"{label:<24} {fits[label]:7.2f} {ratio:9.2f} {model.recommend_seconds:6.2f} {hr:7.4f} {ndcg:8.4f}")
    for label in ("ease", "rp3beta"):
        verdict = "meets" if fits[label] < TARGET_SECONDS else "MISSES"
        print(f"{label}: fit {fits[label]:.2f} s {verdict} the {TARGET_SECONDS:g} s target")


def recbole_check(encoded: EncodedSplit) -> None:
    import recsys_cl.models.recbole  # noqa: F401  (registers the RecBole backends)

    print(f"\n{'RecBole model':<40} {'HR@10':>7} {'nDCG@10':>8}   {'ours':<28} {'HR@10':>7} {'nDCG@10':>8} {'same lists':>10}")
    for model, params, label, (name, ours_params) in RECBOLE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = create("recbole", model=model, params=params, epochs=1).fit(encoded).recommend(k=K)
        ours = create(name, **ours_params).fit(encoded).recommend(k=K)
        same = float(np.mean([set(a) == set(b) for a, b in zip(theirs.items, ours.items)]))
        hr, ndcg = quality(theirs, encoded)
        our_hr, our_ndcg = quality(ours, encoded)
        print(f"{model + ' ' + json.dumps(params):<40} {hr:7.4f} {ndcg:8.4f}   {label:<28} {our_hr:7.4f} {our_ndcg:8.4f} {same:10.1%}")


def memory_child(n_items: int) -> None:
    """EASE on a random (n_items x 5 n_items) binary matrix: peak RSS over the baseline, as one JSON line."""
    import scipy.sparse as sp

    from recsys_cl.models._linear import ease_weights

    rng = np.random.default_rng(0)
    n_users = 5 * n_items
    x = sp.random(n_users, n_items, density=20 / n_items, format="csr", dtype=np.float32, random_state=rng)
    x.data[:] = 1.0
    before = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (VmHWM) to the current RSS
    ease_weights(x, 100.0)
    peak = _status_bytes("VmHWM")
    print(json.dumps({"n_items": n_items, "baseline_bytes": before, "peak_bytes": peak}))


def _status_bytes(field: str) -> int:
    """A field of /proc/self/status (Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_check(n_items: int) -> None:
    out = subprocess.run([sys.executable, __file__, "--memory-child", str(n_items)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    matrix = 4.0 * n_items**2
    extra = result["peak_bytes"] - result["baseline_bytes"]
    print(f"EASE on {n_items:,} items: peak {result['peak_bytes'] / 1e9:.2f} GB, {extra / 1e9:.2f} GB over the baseline = "
          f"{extra / matrix:.2f} x one float32 {n_items:,}^2 matrix ({matrix / 1e9:.2f} GB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recbole", action="store_true", help="cross-check against RecBole's EASE / ItemKNN / SLIMElastic")
    parser.add_argument("--memory", type=int, metavar="N", help="EASE's peak memory on N random items")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-speed", action="store_true", help="only the checks asked for")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    encoded = ml100k_loo()
    if not args.skip_speed:
        speed_table(encoded)
    if args.recbole:
        recbole_check(encoded)
    if args.memory:
        memory_check(args.memory)


if __name__ == "__main__":
    main()
