"""Synthetic H&M generation at a fraction of full size: time, peak memory, extrapolation, pandas peer.

    python benchmarks/perf/bench_synth.py               # scale 0.1: 137k customers, 10.6k articles, 3.18M rows
    python benchmarks/perf/bench_synth.py --scale 0.02

Full H&M size is 1,371,980 customers, 105,542 articles, 104 weeks, 31,788,324 transactions (target of the
scale issue: under 2 minutes, bounded memory). Each measurement runs in its own child process, so its
peak resident memory (ru_maxrss) is its own.
Peer: a straightforward pandas writer, ``df.to_csv`` of the very same transactions frame (loaded before
the clock starts), i.e. the cost of only *writing* the rows the plain way, against our cost of
*generating and writing* them (chunked polars writer).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FULL = {"customers": 1_371_980, "articles": 105_542, "weeks": 104, "transactions": 31_788_324}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child_generate(out: str, scale: float, seed: int) -> dict:
    import numpy  # noqa: F401  (imports are not part of the measured peak growth)
    import polars  # noqa: F401

    from recsys_cl.data.synth import generate_hm

    base = _rss_mb()
    sizes = {k: max(1, round(v * scale)) if k != "weeks" else v for k, v in FULL.items()}
    stages: dict[str, float] = {}
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            stages[stage] = time.perf_counter() - start

    summary = generate_hm(out, seed=seed, progress=progress, **sizes)
    seconds = time.perf_counter() - start
    size_mb = sum(p.stat().st_size for p in Path(out).glob("*.csv")) / 1e6
    return {"seconds": seconds, "peak_mb": _rss_mb(), "base_mb": base, "stages": stages,
            "rows": summary["transactions"], "csv_mb": size_mb}


def child_pandas(out: str) -> dict:
    import pandas as pd

    frame = pd.read_csv(Path(out) / "transactions_train.csv", dtype=str)  # the same rows, untimed
    base = _rss_mb()
    start = time.perf_counter()
    frame.to_csv(Path(out) / "pandas_transactions.csv", index=False)
    seconds = time.perf_counter() - start
    same = (Path(out) / "pandas_transactions.csv").read_bytes() == (Path(out) / "transactions_train.csv").read_bytes()
    return {"seconds": seconds, "peak_mb": _rss_mb(), "base_mb": base, "rows": len(frame), "same_bytes": same}


def _run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="fraction of full H&M size (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["generate", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "generate":
        print(json.dumps(child_generate(args.out, args.scale, args.seed)))
        return
    if args.child == "pandas":
        print(json.dumps(child_pandas(args.out)))
        return
    if not 0 < args.scale <= 1:
        raise SystemExit("--scale must be in (0, 1]")

    with tempfile.TemporaryDirectory(prefix="bench_synth_") as out:
        ours = _run_child(["--child", "generate", "--out", out, "--scale", str(args.scale), "--seed", str(args.seed)])
        peer = _run_child(["--child", "pandas", "--out", out])
    rows = ours["rows"]
    print(f"synthetic H&M at scale {args.scale}: {rows:,} transactions, "
          f"{round(FULL['customers'] * args.scale):,} customers, {round(FULL['articles'] * args.scale):,} articles, "
          f"104 weeks, {ours['csv_mb']:.0f} MB of CSV")
    stage_text = ", ".join(f"{k} done at {v:.1f}s" for k, v in ours["stages"].items())
    print(f"  recsys_cl generate_hm (generate + write 3 files): {ours['seconds']:.1f} s "
          f"({rows / ours['seconds'] / 1e6:.2f} M rows/s); {stage_text}")
    grown = ours["peak_mb"] - ours["base_mb"]
    print(f"  peak RSS {ours['peak_mb']:.0f} MB (imports {ours['base_mb']:.0f} MB, growth {grown:.0f} MB)")
    print(f"  pandas df.to_csv of the same transactions frame (write only): {peer['seconds']:.1f} s, "
          f"peak RSS {peer['peak_mb']:.0f} MB (frame loaded: {peer['base_mb']:.0f} MB); same bytes: {peer['same_bytes']}")
    print(f"  ratio pandas write-only time / our generate+write time: {peer['seconds'] / ours['seconds']:.2f}x")
    full_seconds = ours["seconds"] / args.scale
    # Everything that grows scales with customers, articles or one week of rows, all linear in the scale.
    full_peak = ours["base_mb"] + grown / args.scale
    print(f"  extrapolated to full size ({FULL['transactions']:,} rows): ~{full_seconds:.0f} s, "
          f"peak RSS <= ~{full_peak:.0f} MB (linear); target < 120 s")


if __name__ == "__main__":
    main()
