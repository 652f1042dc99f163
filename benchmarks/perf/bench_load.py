"""Opening a prepared split: read the split files and encode them (what every model and the evaluator start with).

    python benchmarks/perf/bench_load.py                # scale 0.02 (a few seconds)
    python benchmarks/perf/bench_load.py --scale 1.0    # full H&M: 31.8M interactions, 1,371,980 customers

On the loo split of synthetic H&M at the scale (prepared by our adapter, cached under datasets/perf/), in a
child process: ``load_dataset(dir).items`` (the .item catalogue), ``.split("loo")`` (``Split.read``: the
three split files) and ``.encoded("loo")`` (``EncodedSplit.from_split``), with wall time, CPU time and the
process's peak RSS after each stage, the resident memory kept at the end, and a digest of everything the
encoded split holds (vocabularies, matrices, the split's frames), so that two versions of the loader can
be checked for equal output. Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import FULL, _current_rss_mb, prepared, rss_mb, run_child  # noqa: E402


def digest(encoded) -> str:
    """sha256 of the vocabularies, the four matrices and the split frames' values (ids as strings)."""
    import polars as pl

    h = hashlib.sha256()
    for vocab in (encoded.user_ids, encoded.item_ids):
        h.update("\n".join(vocab.tolist()).encode())
    for m in (encoded.train, encoded.valid, encoded.test, encoded.train_last_time):
        for a in (m.indptr, m.indices, m.data):
            h.update(a.tobytes())
    for part in ("train", "valid", "test"):
        frame = encoded.split.part(part)
        h.update(",".join(frame.columns).encode())
        for start in range(0, frame.height, 1_000_000):  # a slice at a time: strings of all rows would be GBs
            h.update(frame.slice(start, 1_000_000).select(pl.all().cast(pl.Utf8)).hash_rows().to_numpy().tobytes())
    return h.hexdigest()[:16]


def child(dataset_dir: str) -> dict:
    from recsys_cl.data._dataset import load_dataset

    base = rss_mb()
    seconds, cpu, peak = {}, {}, {}
    dataset = load_dataset(dataset_dir)
    stages = [("read .item", lambda: dataset.items), ("read split files", lambda: dataset.split("loo")),
              ("encode", lambda: dataset.encoded("loo"))]
    for name, step in stages:
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        seconds[name], cpu[name], peak[name] = time.perf_counter() - start, time.process_time() - start_cpu, rss_mb()
    encoded = dataset.encoded("loo")
    return {"seconds": seconds, "cpu": cpu, "peak_mb": peak, "base_mb": base, "kept_mb": _current_rss_mb(os.getpid()),
            "users": encoded.n_users, "items": encoded.n_items, "train_nnz": int(encoded.train.nnz),
            "digest": digest(encoded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02, help="share of full H&M size (default 0.02; 1.0 = full)")
    parser.add_argument("--ceiling-mb", type=float, default=16_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    directory, made = prepared(args.scale)
    if made:
        print(f"prepared synthetic H&M at scale {args.scale:g}: {made['interactions']:,} interactions in {made['seconds']:.1f} s")
    r = run_child(__file__, ["--child", str(directory)], args.ceiling_mb)
    if r.get("killed"):
        print(f"stopped at {r['rss_mb']:.0f} MB RSS (ceiling {r['ceiling_mb']:.0f} MB) after {r['seconds']:.0f} s")
        return
    print(f"load + encode the loo split of {directory}: {r['users']:,} users x {r['items']:,} items, "
          f"{r['train_nnz']:,} train pairs")
    for stage in r["seconds"]:
        print(f"      {stage:20s} {r['seconds'][stage]:7.1f} s  ({r['cpu'][stage]:6.1f} CPU-s)   "
              f"peak so far {r['peak_mb'][stage]:7.0f} MB")
    print(f"  total {sum(r['seconds'].values()):.1f} s, peak RSS {max(r['peak_mb'].values()):.0f} MB "
          f"(after imports {r['base_mb']:.0f} MB), resident at the end {r['kept_mb']:.0f} MB; digest {r['digest']}")
    print(f"(full H&M: {FULL['customers']:,} customers, {FULL['articles']:,} articles, {FULL['transactions']:,} transactions)")


if __name__ == "__main__":
    main()
