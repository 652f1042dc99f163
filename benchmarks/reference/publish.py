"""Publish a finished reference run: what a reader needs, into the docs, and its per-user scores as the
regression baseline.

    python benchmarks/reference/publish.py results/reference/ml-100k-cf ml-100k-cf

writes

    docs/reference-results/<part>/report.md, figures/   the run's report (`recsys-cl report`), a docs page
    docs/reference-results/<part>/metrics.csv, costs.csv, run.json, tuning/   the run's records (downloads)
    docs/reference-results/<part>/published.json        commit, date, run time, machine
    results/baselines/reference-<part>.json             `recsys-cl baseline save` (per-user scores), which
                                                        tests/bench/test_reference.py compares a re-run against

The folder is built beside its place and renamed into it, so a failed publish leaves the old one whole.
A run with missing cells is refused (a reference is the whole grid or nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recsys_cl.errors import InputError  # noqa: E402
from recsys_cl.files import read_json, write_json  # noqa: E402
from recsys_cl.reporting import save_baseline, write_report  # noqa: E402

PARTS = ("ml-100k-cf", "ml-100k-content", "ml-100k-cold-items", "ml-100k-sequential", "hm-synth")
RECORDS = ("metrics.csv", "costs.csv", "run.json")


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # Linux: the model name says more than platform.processor()
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb, "system": platform.platform()}


def publish(results: Path, part: str, *, docs_dir: Path, baseline: Path, run_hours: float | None) -> dict[str, object]:
    run = read_json(results / "run.json", "run record")
    name = run.get("config", {}).get("name")
    if name != f"reference-{part}":
        raise InputError(f"{results}: holds the results of config {name!r}, not reference-{part}")
    docs_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{part}-", suffix=".tmp", dir=docs_dir.parent))
    try:
        write_report(results, building)  # refuses a run with missing cells
        (building / "report.html").unlink(missing_ok=True)  # self-contained copy of report.md + figures
        for record in RECORDS:
            shutil.copy2(results / record, building / record)
        (building / "tuning").mkdir()
        # the studies of this run (run.json lists them): a results folder may hold others' journals too
        keys = sorted(run.get("studies", {}))
        for name in [*(f"{key}.json" for key in keys), "summaries.json"]:
            if (results / "tuning" / name).is_file():
                shutil.copy2(results / "tuning" / name, building / "tuning" / name)
        studies = [read_json(results / "tuning" / f"{key}.json", "study summary") for key in keys]
        facts = {
            "part": part,
            "config": f"benchmarks/reference/{part}.yaml",
            "git_commit": run.get("git_commit"),
            # the checkout moved while the last invocation ran (its later cells ran that code)
            "git_commit_at_end": run.get("git_commit_at_end"),
            "recsys_cl_version": run.get("recsys_cl_version"),
            "packages": run.get("packages"),
            "cells": len(run.get("cells", {})),
            # the cells the last invocation fitted (the others were kept from earlier ones: same keys)
            "cells_run_now": int(run.get("cells_run_now", len(run.get("cells", {})))),
            "studies": len(studies),
            "trials": sum(int(s.get("trials_completed", 0)) + int(s.get("trials_pruned", 0)) for s in studies),
            "trials_pruned": sum(int(s.get("trials_pruned", 0)) for s in studies),
            "last_invocation_seconds": round(float(run.get("seconds", 0.0)), 1),
            # a run resumed over sessions: run.json times its last invocation only; the caller gives the total
            "run_hours": run_hours,
            # every trial's own duration, summed over the studies (they ran two at a time with --jobs 2)
            "tuning_trial_seconds": round(sum(float(s.get("trial_seconds") or 0.0) for s in studies), 1),
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(run.get("started", 0.0)) + float(run.get("seconds", 0.0)))),
            "machine": machine(),
        }
        write_json(building / "published.json", facts)
        if docs_dir.exists():
            old = docs_dir.with_name(f".{part}-old.tmp")
            shutil.rmtree(old, ignore_errors=True)
            docs_dir.rename(old)
            building.rename(docs_dir)
            shutil.rmtree(old)
        else:
            building.rename(docs_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    save_baseline(results, baseline)
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="finished results folder of benchmarks/reference/<part>.yaml")
    parser.add_argument("part", choices=PARTS)
    parser.add_argument("--run-hours", type=float, help="total wall time over every session that ran it")
    args = parser.parse_args(argv)
    try:
        facts = publish(args.results, args.part, docs_dir=ROOT / "docs" / "reference-results" / args.part,
                        baseline=ROOT / "results" / "baselines" / f"reference-{args.part}.json", run_hours=args.run_hours)  # fmt: skip
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(facts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
