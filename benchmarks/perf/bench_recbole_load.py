"""Loading H&M-shaped interactions into RecBole: RecBole's own loader vs our path from the parsed split.

    python benchmarks/perf/bench_recbole_load.py                          # 500,000 interactions (about a minute)
    python benchmarks/perf/bench_recbole_load.py --interactions 5000000   # the issue's comparison
    python benchmarks/perf/bench_recbole_load.py --fit-scale 1.0          # + BPR, 1 epoch, on full-size H&M

The interactions are synthetic H&M at the scale that gives about ``--interactions`` rows (customers and
articles scaled alike), prepared by our adapter (loo split files ``hm.{train,valid,test}.inter``). Each
side runs in its own child process, with time and peak RSS per stage:

* RecBole's loader: ``Config(benchmark_filename=[train, valid, test], load_col user_id/item_id)``,
  ``create_dataset`` (pandas ``read_csv`` with the Python engine, token remapping) and
  ``data_preparation`` (samplers and data loaders), through ``recsys_cl.compat.recbole`` (never
  ``recbole.quick_start``);
* ours: ``load_dataset(...).encoded()`` (polars reads the same split files into CSR matrices) and the
  ``EncodedDataset`` the RecBole backends train on, then the same ``data_preparation``.

``--fit-scale`` then fits RecBole's BPR through our backend (``bpr-recbole``, our path) on the prepared
split at that scale, 1 epoch, with validation on a seeded sample of users, and ranks a sample of users.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import FULL, Stages, prepared, rss_mb, run_child  # noqa: E402

#: RecBole settings shared by both loaders (those of recsys_cl.models.recbole._backends.recbole_settings)
SETTINGS = {
    "benchmark_filename": ["train", "valid", "test"],
    "USER_ID_FIELD": "user_id",
    "ITEM_ID_FIELD": "item_id",
    "load_col": {"inter": ["user_id", "item_id"]},
    "gpu_id": "",
    "use_gpu": False,
    "show_progress": False,
    "state": "warning",
    "log_wandb": False,
    "reproducibility": True,
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": "full"},
    "train_batch_size": 2048,
    "eval_batch_size": 200_000,
    "topk": [10],
    "metrics": ["NDCG"],
    "valid_metric": "NDCG@10",
}


def _summary(stages: Stages, base: float, train_data, extra: dict) -> dict:
    return {"stages": stages.seconds, "stage_peak_mb": stages.peak_mb, "seconds": sum(stages.seconds.values()),
            "peak_mb": rss_mb(), "base_mb": base, "train_rows": len(train_data.dataset), **extra}


def child_recbole(dataset_dir: str) -> dict:
    from recbole.data import create_dataset, data_preparation

    from recsys_cl.compat.recbole import make_config, patch_recbole

    patch_recbole()  # RecBole on NumPy 2 / pandas 3, before the clock as on our side

    base = rss_mb()
    stages = Stages()
    directory = Path(dataset_dir)
    with tempfile.TemporaryDirectory() as work:
        with stages("Config"):
            config = make_config("BPR", {**SETTINGS, "data_path": str(directory.parent), "checkpoint_dir": work}, "cpu",
                                 dataset=directory.name)
        with stages("create_dataset (read_csv, remap)"):
            dataset = create_dataset(config)
        with stages("data_preparation (samplers, loaders)"):
            train_data, valid_data, test_data = data_preparation(config, dataset)
    return _summary(stages, base, train_data, {"users": dataset.user_num - 1, "items": dataset.item_num - 1})


def child_ours(dataset_dir: str) -> dict:
    from recbole.config import Config  # noqa: F401  (imports before the clock, as on RecBole's side)

    from recsys_cl.compat.recbole import make_config, patch_recbole
    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.models.recbole._backends import recbole_settings
    from recsys_cl.models.recbole._data import data_loaders, encoded_dataset_class

    patch_recbole()  # before the clock, as on RecBole's side
    base = rss_mb()
    stages = Stages()
    with tempfile.TemporaryDirectory() as work:
        with stages("Config"):
            keys = ("train_batch_size", "eval_batch_size", "topk", "metrics", "valid_metric")
            config = make_config("BPR", recbole_settings(work, {k: SETTINGS[k] for k in keys}), "cpu")
        with stages("load_dataset().encoded() (polars read, CSR)"):
            encoded = load_dataset(dataset_dir).encoded("loo")
        with stages("EncodedDataset"):
            dataset = encoded_dataset_class()(config, encoded)
        with stages("data loaders (array sampler, CSR full-sort)"):
            train_data, valid_data, test_data = data_loaders(config, dataset)
    return _summary(stages, base, train_data, {"users": dataset.user_num - 1, "items": dataset.item_num - 1})


def child_fit(dataset_dir: str, valid_users: int, rank_users: int, batch: int) -> dict:
    import numpy as np

    import recsys_cl.models.recbole  # noqa: F401  (registers the RecBole backends)
    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.models import create

    base = rss_mb()
    stages = Stages()
    with stages("load_dataset().encoded()"):
        encoded = load_dataset(dataset_dir).encoded("loo")
    # RecBole's BPR keeps dense embedding tables and Adam updates every row of them each step: at
    # 1.37M users a step costs ~1.4 s whatever the batch (measured), so RecBole's default batch of
    # 2,048 would take ~5.5 hours per epoch. Validation batches: ~100 users x every item.
    model = create("bpr-recbole", epochs=1, valid_users=valid_users, num_threads=2, train_batch_size=batch,
                   eval_batch_size=100 * encoded.n_items)
    with stages("fit (EncodedDataset, loaders, 1 epoch, validation)"):
        model.fit(encoded)
    users = encoded.user_ids[np.random.default_rng(0).choice(encoded.n_users, min(rank_users, encoded.n_users), replace=False)]
    with stages(f"recommend top-12 for {len(users):,} users"):
        model.recommend(users, k=12)
    return {"stages": stages.seconds, "stage_peak_mb": stages.peak_mb, "peak_mb": rss_mb(), "base_mb": base,
            "users": encoded.n_users, "items": encoded.n_items, "train_rows": int(encoded.train.sum()),
            "best_valid_score": model.best_valid_score, "batch": batch}


def _print_side(name: str, r: dict) -> None:
    if r.get("killed"):
        print(f"  {name}: stopped at {r['rss_mb']:.0f} MB RSS (ceiling {r['ceiling_mb']:.0f} MB) after {r['seconds']:.0f} s")
        return
    print(f"  {name}: {r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB (after imports {r['base_mb']:.0f} MB); "
          f"{r['users']:,} users, {r['items']:,} items, {r['train_rows']:,} train rows")
    for stage, seconds in r["stages"].items():
        print(f"      {stage:48s} {seconds:7.1f} s   peak so far {r['stage_peak_mb'][stage]:7.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=500_000, help="about this many interactions (default 500,000)")
    parser.add_argument("--fit-scale", type=float, help="also fit BPR (1 epoch) through our path at this share of H&M")
    parser.add_argument("--valid-users", type=int, default=50_000, help="users RecBole validates on while fitting")
    parser.add_argument("--rank-users", type=int, default=100_000, help="users ranked after the fit")
    parser.add_argument("--fit-batch", type=int, default=131_072, help="train_batch_size of the BPR fit")
    parser.add_argument("--skip-compare", action="store_true", help="only the --fit-scale fit")
    parser.add_argument("--ceiling-mb", type=float, default=16_000, help="stop a child whose RSS passes this")
    parser.add_argument("--child", choices=["recbole", "ours", "fit"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = {"recbole": child_recbole, "ours": child_ours}.get(args.child)
        result = fn(args.dir) if fn else child_fit(args.dir, args.valid_users, args.rank_users, args.fit_batch)
        print(json.dumps(result))
        return

    if not args.skip_compare:
        compare(args)
    if args.fit_scale:
        fit(args)


def compare(args: argparse.Namespace) -> None:
    scale = round(args.interactions / FULL["transactions"], 4)
    directory, made = prepared(scale)
    if made:
        print(f"prepared synthetic H&M at scale {scale:g} with our adapter: {made['interactions']:,} interactions in {made['seconds']:.1f} s")
    n = json.loads((directory / "hm.meta.json").read_text())["counts"]["interactions"]
    print(f"RecBole dataset + data loaders from {n:,} H&M-shaped interactions (scale {scale:g}, loo split files)")
    theirs = run_child(__file__, ["--child", "recbole", "--dir", str(directory)], args.ceiling_mb)
    _print_side("RecBole's loader (pandas, Python CSV engine)", theirs)
    ours = run_child(__file__, ["--child", "ours", "--dir", str(directory)], args.ceiling_mb)
    _print_side("ours (parsed split -> EncodedDataset)", ours)
    if not theirs.get("killed") and not ours.get("killed"):
        print(f"  ratio RecBole's loader / ours: time {theirs['seconds'] / ours['seconds']:.1f}x, "
              f"peak RSS {theirs['peak_mb'] / ours['peak_mb']:.1f}x")


def fit(args: argparse.Namespace) -> None:
    fit_dir, _ = prepared(args.fit_scale)
    r = run_child(__file__, ["--child", "fit", "--dir", str(fit_dir), "--valid-users", str(args.valid_users),
                             "--rank-users", str(args.rank_users), "--fit-batch", str(args.fit_batch)], args.ceiling_mb)
    if r.get("killed"):
        print(f"BPR fit at scale {args.fit_scale:g}: stopped at {r['rss_mb']:.0f} MB after {r['seconds']:.0f} s")
        return
    print(f"BPR (RecBole, our backend and path), 1 epoch at scale {args.fit_scale:g}: {r['users']:,} users, "
          f"{r['items']:,} items, {r['train_rows']:,} train rows, batch {r['batch']:,}; validation on {args.valid_users:,} sampled users "
          f"(NDCG@10 {r['best_valid_score']})")
    for stage, seconds in r["stages"].items():
        print(f"      {stage:52s} {seconds:7.1f} s   peak so far {r['stage_peak_mb'][stage]:7.0f} MB")
    print(f"  total {sum(r['stages'].values()):.1f} s, peak RSS {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
