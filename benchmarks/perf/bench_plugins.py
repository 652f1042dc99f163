"""What plugin discovery costs: the entry-point scan, and whole commands with and without it.

    python benchmarks/perf/bench_plugins.py                          # this checkout only
    python benchmarks/perf/bench_plugins.py --baseline ../main       # and recsys-cl --help of another checkout

Each figure is the median wall time of ``--runs`` fresh processes (after one warm-up run):

* ``recsys-cl --help``: the CLI's start-up. It discovers nothing (plugins are looked up only when a config
  names something that is not built in, or everything is listed); with ``--baseline`` the same command of
  a checkout from before the plugin registry runs alternately with it, and the ratio is given.
* the scan: ``importlib.metadata.entry_points()`` (every installed distribution's metadata, read once per
  process for the three groups), timed inside a fresh process, with the number of distributions installed.
* ``recsys-cl plugins --json``: the whole listing (imports every model backend, scans, loads plugins).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCAN = """
import time
from importlib import metadata
start = time.perf_counter()
eps = metadata.entry_points()
scan = time.perf_counter() - start
groups = [len(eps.select(group=g)) for g in ("recsys_cl.models", "recsys_cl.embeddings", "recsys_cl.sources")]
print(scan, len(list(metadata.distributions())), *groups)
"""


def wall(command: list[str], checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another checkout of recsys-cl to compare --help with")
    args = parser.parse_args()
    help_command = [sys.executable, "-m", "recsys_cl.cli", "--help"]

    pairs = []
    for run in range(args.runs + 1):  # the first pair warms the file cache and is not counted
        ours = wall(help_command, ROOT)
        theirs = wall(help_command, args.baseline) if args.baseline else None
        if run:
            pairs.append((ours, theirs))
    ours = statistics.median(p[0] for p in pairs)
    print(f"recsys-cl --help, this checkout: {ours * 1000:.0f} ms (median of {args.runs})")
    if args.baseline:
        theirs = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[0] / p[1] for p in pairs)
        print(f"recsys-cl --help, {args.baseline}: {theirs * 1000:.0f} ms; ratio this/baseline (median of pairs): {ratio:.3f}")

    scans = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", SCAN], capture_output=True, text=True, check=True).stdout.split()
        scans.append(float(out[0]))
    print(f"entry-point scan in a fresh process: {statistics.median(scans) * 1000:.1f} ms (median of {args.runs}) "
          f"over {out[1]} installed distributions; plugins found: models {out[2]}, embeddings {out[3]}, sources {out[4]}")  # fmt: skip

    listing = [wall([sys.executable, "-m", "recsys_cl.cli", "plugins", "--json"], ROOT) for _ in range(max(args.runs // 2, 1))]
    print(f"recsys-cl plugins --json: {statistics.median(listing) * 1000:.0f} ms (median of {len(listing)}; imports every backend)")


if __name__ == "__main__":
    main()
