"""The cost meter's own cost and what its peaks catch (recsys_cl.bench._cost).

    python benchmarks/perf/bench_cost.py            # ~15 s
    python benchmarks/perf/bench_cost.py --cells 50

Overhead: seconds a cell (fit + recommend stages, both empty) spends in the meter, with CodeCarbon (the
default) and memory only, against the bare stages (peer, same run). The first cell of a process also pays
CodeCarbon's one-time hardware probe. Peaks: a 200 MiB block allocated, held ``--hold`` ms and freed
inside the fit stage, then an empty recommend stage: what each memory method reports for each stage, and
what the process-lifetime peak (``getrusage``, the peer) can tell (it cannot tell stages apart).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from recsys_cl.bench._cost import CostMeter  # noqa: E402


def cell_seconds(**options) -> float:
    start = time.perf_counter()
    meter = CostMeter("cpu", **options)
    for stage in ("fit", "recommend"):
        with meter.stage(stage):
            pass
    meter.cost()
    return time.perf_counter() - start


def bare_seconds() -> float:
    start = time.perf_counter()
    for _ in ("fit", "recommend"):
        pass
    return time.perf_counter() - start


def peaks(method: str, mib: int, hold: float) -> tuple[float, float]:
    meter = CostMeter("cpu", energy=False, memory_method=method)
    with meter.stage("fit"):
        block = np.ones(mib * 2**20 // 8)
        time.sleep(hold)
        del block
    with meter.stage("recommend"):
        pass
    cost = meter.cost()
    return cost.fit.rss_added_mib, cost.recommend.rss_added_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--hold", type=float, default=2.0, help="ms the 200 MiB block lives")
    args = parser.parse_args()

    first = cell_seconds()
    with_energy = statistics.median(cell_seconds() for _ in range(args.cells))
    memory_only = statistics.median(cell_seconds(energy=False) for _ in range(args.cells))
    sampled = statistics.median(cell_seconds(energy=False, memory_method="sampled") for _ in range(args.cells))
    bare = statistics.median(bare_seconds() for _ in range(args.cells))
    print(f"meter overhead per cell (median of {args.cells}): with CodeCarbon {with_energy * 1000:.1f} ms, "
          f"memory only vmhwm {memory_only * 1000:.2f} ms, sampled {sampled * 1000:.2f} ms; bare stages (peer) "
          f"{bare * 1e6:.1f} us; first cell of a process {first:.2f} s (CodeCarbon's hardware probe)")  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for method in ("vmhwm", "sampled"):
        fit, recommend = peaks(method, 200, args.hold / 1000)
        print(f"200 MiB held {args.hold:g} ms in fit: {method} reports fit +{fit:.0f} MiB, recommend +{recommend:.0f} MiB")
    lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peer, getrusage lifetime peak: {lifetime:.0f} MiB after both stages ({before:.0f} before): one number "
          "for the process, no stage or cell of its own (and reset by vmhwm's per-stage reset)")  # fmt: skip


if __name__ == "__main__":
    main()
