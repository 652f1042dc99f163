"""The fashion baselines at H&M scale: fit + recommend seconds and peak memory, against Pop in the same run.

    python benchmarks/perf/bench_fashion.py                  # 10% of H&M (137k customers, 10.6k articles, 3.2M rows)
    python benchmarks/perf/bench_fashion.py --scale 1.0      # full size (1.37M customers, 105k articles, 31.8M rows)
    python benchmarks/perf/bench_fashion.py --k 100 --users all   # candidate generation for every customer

Data: synthetic H&M at ``--scale`` with the fashion-retail options on (repeat purchases, colour variants,
age-dependent tastes; see ``recsys_cl.data.synth._hm``), prepared with the temporal protocol (last 7 days
test), cached under ``datasets/perf/``. Each model runs in its own child process, so its peak resident
memory is its own: ``load MB`` is the peak while loading the split, ``peak MB`` the peak of the whole child
(fit and recommend included), ``above load`` the difference) and ranks the test
week's customers (or every customer) under the competition's mode (exclude_seen false). Pop ranks with
the dense full-ranking top-K; the fashion baselines with the sparse one (``topk_sparse_over_base``).
MAP@12 / HR@12 are printed beside the times (test users only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import PREPARED_ROOT, RAW_ROOT, rss_mb, run_child, scale_name, sizes  # noqa: E402

#: the generator's fashion-retail options used here (more repeats than the default 8%, as in fashion retail)
SYNTH_OPTIONS = {"repeat_share": 0.15, "variant_share": 0.05, "age_share": 0.3}
MODELS = {
    "pop": {},
    "repurchase": {},
    "decayed-pop": {},
    "segment-pop": {},
    "product-variants": {},
    "bought-together": {},
}


def dataset(scale: float, seed: int) -> Path:
    """Generate (once) and prepare (once, temporal) the synthetic H&M sample at ``scale``."""
    tag = f"scale{scale_name(scale)}-seed{seed}"
    raw = RAW_ROOT / f"hm-synth-fashion-{tag}"
    out_root = PREPARED_ROOT / f"hm-fashion-{tag}"
    if not (out_root / "hm" / "hm.meta.json").is_file():
        result = run_child(Path(__file__), ["prepare", str(raw), str(out_root), str(scale), str(seed)])
        print(f"generated + prepared {tag} in {result['seconds']:.0f} s (peak {result['peak_mb']:.0f} MB)", flush=True)
    return out_root / "hm"


def child_prepare(raw: str, out_root: str, scale: float, seed: int) -> dict:
    from recsys_cl.data import HMOptions, prepare
    from recsys_cl.data.synth import generate_hm

    start = time.perf_counter()
    if not (Path(raw) / "transactions_train.csv").is_file():
        generate_hm(raw, seed=seed, **sizes(scale), **SYNTH_OPTIONS)
    prepare("hm", out_root, raw=raw, options=HMOptions(name="hm", protocols=["temporal"]))
    return {"seconds": time.perf_counter() - start, "peak_mb": rss_mb()}


def child_model(data: str, name: str, params: str, k: int, users: str) -> dict:
    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    encoded = load_dataset(data).encoded("temporal")
    base = rss_mb()
    model = create(name, **json.loads(params)).fit(encoded)
    fit_mb = rss_mb()
    who = None if users == "test" else encoded.user_ids
    rankings = model.recommend(who, k=k, exclude_seen=False)
    out = {"fit_seconds": model.fit_seconds, "recommend_seconds": model.recommend_seconds, "base_mb": base,
           "fit_peak_mb": fit_mb, "peak_mb": rss_mb(), "users": len(rankings.users)}
    if users == "test" and k >= 12:
        result = evaluate(rankings, encoded, metrics=["map", "hr"], ks=[12], exclude_seen=False)
        out.update({"map@12": result.summary["map@12"], "hr@12": result.summary["hr@12"],
                    "repeat_share": result.summary["repeat_share"]})
    out["n_users"], out["n_items"] = encoded.n_users, encoded.n_items
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--users", choices=["test", "all"], default="test")
    parser.add_argument("--models", default=",".join(MODELS), help="comma list (pop always runs: the peer)")
    args = parser.parse_args()
    names = ["pop", *[m for m in args.models.split(",") if m and m != "pop"]]
    data = dataset(args.scale, args.seed)
    print(f"synthetic H&M at scale {args.scale:g} ({sizes(args.scale)}), options {SYNTH_OPTIONS}; temporal split; "
          f"k={args.k}, users={args.users}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    rows = {}
    for name in names:
        rows[name] = run_child(Path(__file__), ["model", str(data), name, json.dumps(MODELS.get(name, {})), str(args.k), args.users])
        if rows[name].get("killed"):
            print(f"{name}: stopped above {rows[name]['ceiling_mb']:.0f} MB", flush=True)
            continue
        if name == "pop":
            r = rows[name]
            print(f"{r['n_users']:,} users x {r['n_items']:,} items in the split; ranked {r['users']:,} users; "
                  f"test pairs repeating a training pair: {r.get('repeat_share', float('nan')):.1%}", flush=True)
            print(f"{'model':<18} {'fit s':>8} {'rec s':>8} {'total/pop':>9} {'load MB':>8} {'peak MB':>8} "
                  f"{'peak/pop':>8} {'above load':>10} {'MAP@12':>7} {'HR@12':>7}", flush=True)
        r, pop = rows[name], rows["pop"]
        total, pop_total = r["fit_seconds"] + r["recommend_seconds"], pop["fit_seconds"] + pop["recommend_seconds"]
        print(f"{name:<18} {r['fit_seconds']:8.1f} {r['recommend_seconds']:8.1f} {total / pop_total:9.2f} "
              f"{r['base_mb']:8.0f} {r['peak_mb']:8.0f} {r['peak_mb'] / pop['peak_mb']:8.2f} {r['peak_mb'] - r['base_mb']:10.0f} "
              f"{r.get('map@12', float('nan')):7.4f} "
              f"{r.get('hr@12', float('nan')):7.4f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    if len(sys.argv) > 1 and sys.argv[1] == "prepare":
        print(json.dumps(child_prepare(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "model":
        print(json.dumps(child_model(*sys.argv[2:5], int(sys.argv[5]), sys.argv[6])))
    else:
        main()
