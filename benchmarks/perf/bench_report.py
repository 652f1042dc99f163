"""Time `recsys-cl report` on a results folder, stage by stage, wall and CPU seconds.

    python benchmarks/perf/bench_report.py results/quickstart             # the 72-cell quickstart run
    python benchmarks/perf/bench_report.py results/quickstart --resamples 500 --svg

Target (issue 16): the report of a 72-cell run stays under 30 s on 2 cores. Stages: loading the run,
the tables (``all_tables``: means, bootstrap CIs and paired randomisation tests), building the figures
(their intervals come from the tables' comparison, computed once), saving them (PNG; SVG with --svg),
and writing report.md / report.html. The peer is the tables stage measured in the same run: the
figures' cost is printed as a ratio to it, which a busy machine slows down alike.

``--blas-threads 0`` runs the stages with BLAS's default thread count instead of write_report's one
thread, to show what that limit buys. CPU seconds beside wall seconds tell how busy the machine was: on a quiet machine they agree; when the
shared cores are contended, wall time grows and CPU time does not.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results folder written by `recsys-cl bench`")
    parser.add_argument("--resamples", type=int, default=2000, help="randomisation-test resamples (the CLI's default)")
    parser.add_argument("--svg", action="store_true", help="also write SVG figures (as `report --latex` does)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (write_report uses 1; 0 = the library's default, to see the difference)")  # fmt: skip
    args = parser.parse_args()

    from recsys_cl.reporting import _report, load_results
    from recsys_cl.reporting._plots import save
    from recsys_cl.reporting._tables import all_tables

    stages: list[tuple[str, float, float]] = []
    wall, cpu = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal wall, cpu
        stages.append((name, time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()

    from threadpoolctl import threadpool_limits

    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    limits = threadpool_limits(args.blas_threads, "blas") if args.blas_threads else None  # as write_report does
    try:
        results = load_results(args.results)
        lap("load run")
        tables = all_tables(results, n_resamples=args.resamples)
        lap("tables")
        built = list(_report.report_figures(results, args.resamples))
        lap("figures: build")
        figures = [
            _report.Shown(f.section, f.caption, f.wide, save(f.figure, out / "figures" / f.name, args.svg), f.group)
            for f in built
        ]
        lap("figures: save")
        (out / "report.md").write_text(_report._markdown(results, tables, figures, out))
        (out / "report.html").write_text(_report._html(results, tables, figures))
        lap("write md + html")
        size = (out / "report.html").stat().st_size
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if limits is not None:
            limits.restore_original_limits()

    total_wall = sum(s[1] for s in stages)
    total_cpu = sum(s[2] for s in stages)
    print(f"{args.results}: {len(results.cells)} cells, {len(results.groups())} dataset/protocol pairs, "
          f"{len(built)} figures, {len(tables)} tables, report.html {size / 1e6:.1f} MB")  # fmt: skip
    print(f"{'stage':<18}{'wall s':>9}{'cpu s':>9}")
    for name, w, c in stages:
        print(f"{name:<18}{w:>9.2f}{c:>9.2f}")
    print(f"{'total':<18}{total_wall:>9.2f}{total_cpu:>9.2f}   target < {TARGET_SECONDS:.0f} s wall: "
          f"{'met' if total_wall < TARGET_SECONDS else 'MISSED'}")  # fmt: skip
    tables_wall = next(w for n, w, _ in stages if n == "tables")
    figures_wall = sum(w for n, w, _ in stages if n.startswith("figures"))
    print(f"figures / tables (peer, same run): {figures_wall / max(tables_wall, 1e-9):.2f}x wall")


if __name__ == "__main__":
    main()
