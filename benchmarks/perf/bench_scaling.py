"""How cost grows: the adapter (prepare hm) and the evaluator (top-12 for every user + metrics) at several
shares of full H&M size, time and peak memory per step, and the time per million interactions.

    python benchmarks/perf/bench_scaling.py                          # scales 0.002, 0.01 (about a minute)
    python benchmarks/perf/bench_scaling.py --scales 0.01,0.1,1.0    # the issue's 1%, 10%, 100%

Synthetic H&M at each scale scales customers, articles and transactions together (104 weeks, ~23
transactions per customer), as a smaller download of the same shop would. Each measurement is a
child process (bench_prepare's and bench_fullsize's children), so each peak RSS is its own.

Linear in interactions means a flat "s per M interactions" column. The evaluator is not expected to
be: it scores every user against every item, users x items = (customers x articles) grows with the
square of the scale, so its time per million interactions grows ~10x per 10x of scale (the printout
shows users x items beside it).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import PREPARED_ROOT, hm_raw, prepared, run_child, scale_name  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.002,0.01", help="comma list of shares of full H&M size")
    parser.add_argument("--steps", default="prepare,eval", help="comma list of prepare, eval")
    parser.add_argument("--ceiling-mb", type=float, default=16_000)
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    steps = args.steps.split(",")
    rows = []
    for scale in scales:
        if "prepare" in steps:
            raw, generated = hm_raw(scale)
            if generated:
                print(f"  (generated synthetic H&M at scale {scale:g}: {generated['seconds']:.1f} s, peak {generated['peak_mb']:.0f} MB)")
            out = PREPARED_ROOT / f"bench-scaling-{scale_name(scale)}"
            shutil.rmtree(out, ignore_errors=True)
            r = run_child(HERE / "bench_prepare.py", ["--child", "ours", "--raw", str(raw), "--out", str(out)], args.ceiling_mb)
            shutil.rmtree(out, ignore_errors=True)
            rows.append(("prepare hm (adapter, loo, write)", scale, r, r.get("interactions"), None))
            _print_row(rows[-1])
        if "eval" in steps:
            directory, _ = prepared(scale)
            r = run_child(HERE / "bench_fullsize.py", ["--child", "eval", "--dir", str(directory)], args.ceiling_mb)
            pairs = r["users"] * r["items"] if not r.get("killed") else None
            rows.append(("evaluator (top-12 all users + metrics)", scale, r, r.get("interactions"), pairs))
            _print_row(rows[-1])
    print()
    print(f"{'step':52s} {'scale':>6s} {'interactions':>12s} {'seconds':>8s} {'peak MB':>8s} {'s per M inter':>13s} {'ns per user x item':>18s}")
    per_million: dict[str, list[tuple[float, float]]] = {}
    for step, scale, r, n, pairs in rows:
        if r.get("killed"):
            print(f"{step:52s} {scale:6g} stopped at {r['rss_mb']:.0f} MB")
            continue
        total = r["seconds"] if "seconds" in r else sum(r["stages"].values())
        parts = [(step, total, r["peak_mb"])] + [
            (f"  {name}", seconds, r.get("stage_peak_mb", {}).get(name)) for name, seconds in r["stages"].items() if seconds >= 0.05
        ]
        for name, seconds, peak in parts:
            # per scored (user, item) pair: the unit the top-K step grows with
            per_pair = f"{seconds / pairs * 1e9:18.3f}" if pairs and "top-" in name else ""
            peak_text = f"{peak:8.0f}" if peak else f"{'':>8s}"
            print(f"{name:52s} {scale:6g} {n:12,d} {seconds:8.1f} {peak_text} {seconds / n * 1e6:13.2f} {per_pair}")
            key = f"{step}: {name.strip()}" if name.startswith("  ") else name
            per_million.setdefault(key, []).append((scale, seconds / n * 1e6))
    print("growth of the time per million interactions from the smallest to the largest scale (1.0 = linear):")
    for name, points in per_million.items():
        if len(points) > 1:
            print(f"  {name:70s} x{points[-1][1] / points[0][1]:6.2f}  ({points[0][0]:g} -> {points[-1][0]:g})")


def _print_row(row) -> None:
    step, scale, r, n, _ = row
    if r.get("killed"):
        print(f"{step} at scale {scale:g}: stopped at {r['rss_mb']:.0f} MB")
        return
    stages = r["stages"]
    seconds = r["seconds"] if "seconds" in r else sum(stages.values())
    print(f"{step} at scale {scale:g}: {n:,} interactions, {seconds:.1f} s, peak {r['peak_mb']:.0f} MB; "
          + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()))


if __name__ == "__main__":
    main()
