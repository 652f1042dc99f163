"""`source: table` against the H&M adapter on the same rows: time and peak memory of `prepare`.

    python benchmarks/perf/bench_table_source.py               # scale 0.1: 3.18M transactions (a few minutes)
    python benchmarks/perf/bench_table_source.py --scale 0.02  # a quick look

Synthetic H&M raw files at the scale (cached under ``datasets/raw/``, as bench_prepare.py does) are rewritten
once as a shop's own files: ``events.csv`` (customer, sku, day, amount: the transactions with renamed
columns), ``products.csv`` (the articles: sku, title, description, type, colour), ``customers.csv``, and the
same three as Parquet. Then, each in its own child process (so peak memory is its own), ``--repeat`` times in
turn:

* hm: ``prepare("hm", ...)``, leave-one-out, items and users;
* table-csv: ``prepare("table", ...)`` on the CSV files, mapped, leave-one-out, items and users;
* table-parquet: the same on the Parquet files.

Printed: best wall time, CPU time and peak RSS of each, and the ratios to hm (target: ratio <= 1 in time,
and the same memory).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import PREPARED_ROOT, RAW_ROOT, child_prepare, hm_raw, rss_mb, run_child, scale_name, tick_recorder  # noqa: E402

MAPPING = {
    "interactions": {"file": "events.{ext}", "user": "customer", "item": "sku", "time": "day", "price": "amount"},
    "items": {"file": "products.{ext}", "id": "sku", "text": ["title", "description"], "categorical": ["type", "colour"]},
    "users": {"file": "customers.{ext}", "id": "customer", "categorical": ["status"]},
}


def child_convert(raw: str, out: str) -> dict:
    """The H&M files as a shop's own: renamed columns, CSV and Parquet (polars, all columns as text)."""
    import polars as pl

    out_p = Path(out)
    out_p.mkdir(parents=True, exist_ok=True)
    renames = {
        "transactions_train.csv": ("events", {"customer_id": "customer", "article_id": "sku", "t_dat": "day", "price": "amount"}),
        "articles.csv": ("products", {"article_id": "sku", "prod_name": "title", "detail_desc": "description",
                                      "product_type_name": "type", "colour_group_name": "colour"}),
        "customers.csv": ("customers", {"customer_id": "customer", "club_member_status": "status"}),
    }  # fmt: skip
    for name, (stem, columns) in renames.items():
        frame = pl.read_csv(Path(raw) / name, infer_schema=False).select([pl.col(a).alias(b) for a, b in columns.items()])
        frame.write_csv(out_p / f"{stem}.csv")
        frame.write_parquet(out_p / f"{stem}.parquet")
    return {"rows": pl.scan_csv(out_p / "events.csv").select(pl.len()).collect().item()}


def child_table(raw: str, out_root: str, ext: str) -> dict:
    import numpy  # noqa: F401  (imports are not part of the measured growth)
    import polars  # noqa: F401

    from recsys_cl.data import prepare

    options = json.loads(json.dumps(MAPPING).replace("{ext}", ext))
    base = rss_mb()
    tick, durations = tick_recorder()
    start, cpu = time.perf_counter(), time.process_time()
    meta = prepare("table", out_root, raw=raw, options={"name": "shop", "protocols": ["loo"], **options}, progress=tick)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "peak_mb": rss_mb(),
            "base_mb": base, "stages": durations(), "interactions": meta["counts"]["interactions"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="share of full H&M size (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, in turn; the best is reported")
    parser.add_argument("--child", choices=["convert", "hm", "table"], help=argparse.SUPPRESS)
    parser.add_argument("--raw", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--ext", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "convert":
        print(json.dumps(child_convert(args.raw, args.out)))
        return
    if args.child == "hm":
        print(json.dumps(child_prepare(args.raw, args.out)))
        return
    if args.child == "table":
        print(json.dumps(child_table(args.raw, args.out, args.ext)))
        return

    raw, _ = hm_raw(args.scale, args.seed)
    shop = RAW_ROOT / f"shop-from-hm-scale{scale_name(args.scale)}-seed{args.seed}"
    if not (shop / ".complete").is_file():
        converted = run_child(__file__, ["--child", "convert", "--raw", str(raw), "--out", str(shop)])
        (shop / ".complete").write_text(json.dumps(converted) + "\n")
    work = PREPARED_ROOT / f"table-bench-scale{scale_name(args.scale)}"
    runs: dict[str, list[dict]] = {"hm": [], "table-csv": [], "table-parquet": []}
    for _ in range(args.repeat):
        for name in runs:
            shutil.rmtree(work, ignore_errors=True)
            if name == "hm":
                child = ["--child", "hm", "--raw", str(raw), "--out", str(work)]
            else:
                child = ["--child", "table", "--raw", str(shop), "--out", str(work), "--ext", name.split("-")[1]]
            runs[name].append(run_child(__file__, child))
    shutil.rmtree(work, ignore_errors=True)
    best = {name: min(results, key=lambda r: r["seconds"]) for name, results in runs.items()}
    rows = best["hm"]["interactions"]
    print(f"scale {args.scale:g}: {rows:,} interactions, best of {args.repeat} runs each (own child process each)")
    # on shared cores wall time is mostly waiting: CPU seconds (each path's least over its runs) compare the work
    cpu = {name: min(r["cpu_seconds"] for r in results) for name, results in runs.items()}
    print(f"{'path':<15}{'wall s':>9}{'cpu s':>9}{'peak MB':>10}{'wall / hm':>11}{'cpu / hm':>10}{'peak / hm':>11}")
    for name, result in best.items():
        print(f"{name:<15}{result['seconds']:>9.2f}{cpu[name]:>9.2f}{result['peak_mb']:>10.0f}"
              f"{result['seconds'] / best['hm']['seconds']:>11.2f}{cpu[name] / cpu['hm']:>10.2f}"
              f"{result['peak_mb'] / best['hm']['peak_mb']:>11.2f}")  # fmt: skip
    for name, result in best.items():
        stages = ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in result["stages"].items())
        print(f"  {name} stages (s): {stages}")
    print(json.dumps({"scale": args.scale, "interactions": rows, "best": best, "runs": runs}))


if __name__ == "__main__":
    main()
