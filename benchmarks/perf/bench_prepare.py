"""`prepare hm` at a share of full H&M size: our adapter vs the straightforward pandas conversion.

    python benchmarks/perf/bench_prepare.py               # scale 0.05: 1.59M transactions (about a minute)
    python benchmarks/perf/bench_prepare.py --scale 1.0   # full size: 31,788,324 transactions, 1,371,980 customers

Synthetic H&M raw files at the scale are generated once (a child process; its time and peak RSS are
printed when it runs) and cached under ``datasets/raw/``. Then, each in its own child process:

* ours: ``prepare("hm", ...)`` (read and check the three CSVs, convert, loo split, write ``hm.inter``, ``hm.item``,
  ``hm.user``, ``hm.{train,valid,test}.inter`` and the metadata), with per-stage times;
* peer: the plain pandas way to produce the same files: ``pd.read_csv``, per-column conversions,
  ``groupby(user).cumcount`` on the time-sorted frame for leave-one-out, ``DataFrame.to_csv``.

Both outputs are compared file by file (same bytes or not). Target (scale issue): full size in under
60 s and 6 GB peak, at least 5x faster than the pandas peer.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import FULL, PREPARED_ROOT, child_prepare, hm_raw, rss_mb, run_child, scale_name  # noqa: E402

FILES = ["hm.inter", "hm.item", "hm.user", "hm.train.inter", "hm.valid.inter", "hm.test.inter"]


def child_pandas(raw: str, out_dir: str) -> dict:
    """The straightforward conversion: pandas read_csv, column conversions, groupby loo, to_csv."""
    import os

    import numpy as np
    import pandas as pd

    raw_p, out = Path(raw), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = rss_mb()
    stages: dict[str, float] = {}
    t0 = start = time.perf_counter()
    cpu = time.process_time()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        stages[name] = now - t0
        t0 = now

    def clean(s: pd.Series) -> pd.Series:
        return s.fillna("").str.replace(r"[\t\r\n]+", " ", regex=True).str.replace('"', "'").str.strip()

    def write(frame: pd.DataFrame, name: str, types: dict[str, str]) -> None:
        header = [f"{c}:{types.get(c, 'token')}" for c in frame.columns]
        frame.to_csv(out / name, sep="\t", index=False, header=header, na_rep="", lineterminator="\n")

    types = {"timestamp": "float", "price": "float", "age": "float", "text": "token_seq"}
    arts = pd.read_csv(raw_p / "articles.csv", dtype=str)
    arts["article_id"] = arts["article_id"].str.strip().str.zfill(10)
    fields = ["product_code", "prod_name", "product_type_name", "product_group_name", "graphical_appearance_name",
              "colour_group_name", "perceived_colour_value_name", "perceived_colour_master_name", "department_name",
              "index_name", "index_group_name", "section_name", "garment_group_name", "detail_desc"]
    items = pd.DataFrame({"item_id": arts["article_id"]})
    for c in fields:
        items[c] = clean(arts[c]) if c in ("detail_desc", "prod_name") else clean(arts[c]).replace("", "unknown")
    c = {k: clean(arts[k]) for k in ("prod_name", "product_type_name", "colour_group_name",
                                      "graphical_appearance_name", "garment_group_name", "detail_desc")}
    items["text"] = (c["prod_name"] + ". " + c["product_type_name"] + ", " + c["colour_group_name"] + ", "
                     + c["graphical_appearance_name"] + ", " + c["garment_group_name"] + ". " + c["detail_desc"]).str.strip()
    rel = "images/" + arts["article_id"].str[:3] + "/" + arts["article_id"] + ".jpg"
    items["image_path"] = [p if os.path.isfile(raw_p / p) else "" for p in rel]
    lap("read + convert articles")

    cust = pd.read_csv(raw_p / "customers.csv", dtype=str)
    flag = lambda s: s.str.strip().replace({"1.0": "1"}).fillna("0")  # noqa: E731
    users = pd.DataFrame({
        "user_id": cust["customer_id"], "FN": flag(cust["FN"]), "Active": flag(cust["Active"]),
        "club_member_status": cust["club_member_status"].fillna("unknown"),
        "fashion_news_frequency": cust["fashion_news_frequency"].replace({"None": "NONE"}).fillna("unknown"),
        "age": pd.to_numeric(cust["age"]), "postal_code": cust["postal_code"].fillna("unknown"),
    })
    lap("read + convert customers")

    tx = pd.read_csv(raw_p / "transactions_train.csv", dtype=str)
    day = pd.to_datetime(tx["t_dat"], format="%Y-%m-%d")
    inter = pd.DataFrame({
        "user_id": tx["customer_id"],
        "item_id": tx["article_id"].str.strip().str.zfill(10),
        "timestamp": ((day - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).astype("float64"),
        "price": pd.to_numeric(tx["price"]),
        "sales_channel_id": tx["sales_channel_id"].fillna("unknown"),
    })
    del tx, day
    lap("read + convert transactions")

    # leave-one-out: order each user's rows by (time, file row), count from the end
    inter["_row"] = np.arange(len(inter))
    ordered = inter.sort_values(["user_id", "timestamp", "_row"])
    grouped = ordered.groupby("user_id", sort=False)
    from_end = grouped.cumcount(ascending=False).to_numpy() + 1
    n = grouped["item_id"].transform("size").to_numpy()
    part = np.where((from_end == 1) & (n >= 2), "test", np.where((from_end == 2) & (n >= 3), "valid", "train"))
    parts = {p: ordered[part == p].sort_values("_row").drop(columns="_row") for p in ("train", "valid", "test")}
    del ordered
    lap("loo split (groupby)")

    write(inter.drop(columns="_row"), "hm.inter", types)
    write(items, "hm.item", types)
    write(users[users["user_id"].isin(inter["user_id"].unique())], "hm.user", types)
    for p, frame in parts.items():
        write(frame, f"hm.{p}.inter", types)
    lap("write (to_csv)")
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "peak_mb": rss_mb(),
            "base_mb": base, "stages": stages, "interactions": len(inter)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="share of full H&M size (default 0.05; 1.0 = full)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-peer", action="store_true", help="time only our adapter")
    parser.add_argument("--keep", action="store_true", help="keep our prepared output (for the other benchmarks)")
    parser.add_argument("--ceiling-mb", type=float, default=16_000, help="stop a child whose RSS passes this")
    parser.add_argument("--child", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--raw", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ours":
        print(json.dumps(child_prepare(args.raw, args.out)))
        return
    if args.child == "pandas":
        print(json.dumps(child_pandas(args.raw, args.out)))
        return
    if not 0 < args.scale <= 1:
        raise SystemExit("--scale must be in (0, 1]")

    raw, generated = hm_raw(args.scale, args.seed)
    if generated:
        print(f"generated synthetic H&M at scale {args.scale:g} into {raw}: {generated['rows']:,} transactions, "
              f"{generated['csv_mb']:.0f} MB of CSV in {generated['seconds']:.1f} s, peak RSS {generated['peak_mb']:.0f} MB "
              f"(full-size target: under 120 s)")
    work = PREPARED_ROOT / f"bench-prepare-scale{scale_name(args.scale)}"
    shutil.rmtree(work, ignore_errors=True)
    # --keep writes where the other benchmarks look for the prepared dataset (no second full-size prepare)
    ours_root = PREPARED_ROOT / f"hm-scale{scale_name(args.scale)}-seed{args.seed}" if args.keep else work / "ours"
    shutil.rmtree(ours_root, ignore_errors=True)
    ours = run_child(__file__, ["--child", "ours", "--raw", str(raw), "--out", str(ours_root)], args.ceiling_mb)
    rows = ours["interactions"]
    print(f"prepare hm at scale {args.scale:g}: {rows:,} interactions "
          f"({rows / FULL['transactions']:.1%} of the real H&M's {FULL['transactions']:,})")
    stage_text = ", ".join(f"{k} {v:.1f}s" for k, v in ours["stages"].items())
    print(f"  recsys_cl prepare hm: {ours['seconds']:.1f} s ({rows / ours['seconds'] / 1e6:.2f} M rows/s; "
          f"{ours['cpu_seconds']:.1f} CPU-s over all threads), "
          f"peak RSS {ours['peak_mb']:.0f} MB (after imports {ours['base_mb']:.0f} MB)")
    print(f"    stages: {stage_text}")
    if not args.skip_peer:
        peer = run_child(__file__, ["--child", "pandas", "--raw", str(raw), "--out", str(work / "pandas")], args.ceiling_mb)
        if peer.get("killed"):
            print(f"  pandas peer: stopped at {peer['rss_mb']:.0f} MB RSS (ceiling {peer['ceiling_mb']:.0f} MB) "
                  f"after {peer['seconds']:.0f} s; ratio > {peer['seconds'] / ours['seconds']:.1f}x (lower bound)")
        else:
            stage_text = ", ".join(f"{k} {v:.1f}s" for k, v in peer["stages"].items())
            same = {f: filecmp.cmp(ours_root / "hm" / f, work / "pandas" / f, shallow=False) for f in FILES}
            print(f"  pandas read_csv + groupby loo + to_csv: {peer['seconds']:.1f} s ({peer['cpu_seconds']:.1f} CPU-s), "
                  f"peak RSS {peer['peak_mb']:.0f} MB")
            print(f"    stages: {stage_text}")
            print(f"    same bytes as ours: " + ", ".join(f"{f} {'yes' if s else 'NO'}" for f, s in same.items()))
            print(f"  ratio pandas / recsys_cl time: {peer['seconds'] / ours['seconds']:.1f}x "
                  f"(memory: {peer['peak_mb'] / ours['peak_mb']:.1f}x)")
    if args.scale == 1.0:
        ok = ours["seconds"] < 60 and ours["peak_mb"] < 6144
        print(f"  target (full size: < 60 s and < 6 GB): {'PASS' if ok else 'FAIL'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
