"""Loading precomputed item vectors at H&M's size: 105,542 articles x 512 float32 (a CLIP-sized vector).

    python benchmarks/perf/bench_precomputed.py                     # 105,542 x 512, 3 repeats
    python benchmarks/perf/bench_precomputed.py --items 20000 --dim 64

Writes the vectors (seeded random, H&M-style zero-padded ids) in a temporary folder as ``.npy`` + ids
file and as Parquet (a list<float> column, as pandas/polars write it, and a fixed_size_list column),
then times, each the median of the repeats in this process:

* ``np.load`` of the matrix alone: the floor (no ids, no checks);
* ``read_itememb`` of the same matrix and ids: the path learned embeddings are read by today (peer);
* ``read_item_vectors`` of each layout: reading plus every check (finite, one dimension, unique ids);
* ``align_item_vectors`` against the catalogue in another (shuffled) order;
* ``fingerprint`` of the vector files, cold (hashes the contents) and warm (the stat-keyed cache).

Ratios are against the peer measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=105_542)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recsys_cl.data import fingerprint
    from recsys_cl.embeddings import ItemEmbeddings, align_item_vectors, read_item_vectors, read_itememb, write_itememb

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.items, args.dim), dtype=np.float32)
    ids = np.array([f"{108775015 + 17 * i:010d}" for i in range(args.items)])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "v.npy", vectors)
        (folder / "ids.txt").write_text("\n".join(ids) + "\n")
        pq.write_table(pa.table({"item_id": ids, "vector": pa.array(list(vectors), pa.list_(pa.float32()))}), folder / "list.parquet")
        fixed = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), args.dim)
        pq.write_table(pa.table({"item_id": ids, "vector": fixed}), folder / "fixed.parquet")
        write_itememb(ItemEmbeddings(ids, vectors, "peer"), folder / "peer.itememb")
        catalogue = ids[rng.permutation(args.items)]
        emb = read_item_vectors(folder / "v.npy", ids=folder / "ids.txt")

        rows = [
            ("np.load (matrix only, no checks)", timed(lambda: np.load(folder / "v.npy"), args.repeats)),
            ("read_itememb (.npy + ids, peer)", timed(lambda: read_itememb(folder / "peer.itememb"), args.repeats)),
            ("read_item_vectors .npy + ids", timed(lambda: read_item_vectors(folder / "v.npy", ids=folder / "ids.txt"), args.repeats)),
            ("read_item_vectors parquet list<float>", timed(lambda: read_item_vectors(folder / "list.parquet"), args.repeats)),
            ("read_item_vectors parquet fixed_size_list", timed(lambda: read_item_vectors(folder / "fixed.parquet"), args.repeats)),
            ("align_item_vectors (shuffled catalogue)", timed(lambda: align_item_vectors(emb, catalogue), args.repeats)),
        ]
        cache = folder / "cache"
        files = [folder / "v.npy", folder / "ids.txt"]
        start = time.perf_counter()
        fingerprint(files, cache_dir=cache)
        rows.append(("fingerprint .npy + ids, cold", time.perf_counter() - start))
        rows.append(("fingerprint .npy + ids, warm (cache)", timed(lambda: fingerprint(files, cache_dir=cache), args.repeats)))
        size_mb = (folder / "v.npy").stat().st_size / 1e6

    peer = rows[1][1]
    print(f"{args.items:,} items x {args.dim} float32 ({size_mb:.0f} MB .npy); median of {args.repeats}; ratio against read_itememb")
    for name, seconds in rows:
        print(f"  {name:<44} {seconds:8.3f} s   x{seconds / peer:5.2f}")


if __name__ == "__main__":
    main()
