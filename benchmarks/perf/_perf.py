"""Shared plumbing of the scale benchmarks (bench_prepare, bench_recbole_load, bench_fullsize, bench_scaling).

Every measurement runs in its own child process (this file's ``run_child``), so its peak resident memory
(``ru_maxrss``) is its own. The parent also polls the child's current RSS and stops it above a ceiling:
on a shared 24 GB machine a peer that would exhaust memory is reported as such, not allowed to take the
machine down.

Synthetic H&M raw files and prepared datasets are cached under ``datasets/`` (gitignored) by scale, so
the full-size files (3.5 GB of CSV, ~8 GB of atomic files) are generated once and reused by every script.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: the real H&M download's sizes (Kaggle, "H&M Personalized Fashion Recommendations")
FULL = {"customers": 1_371_980, "articles": 105_542, "weeks": 104, "transactions": 31_788_324}
RAW_ROOT = ROOT / "datasets" / "raw"
PREPARED_ROOT = ROOT / "datasets" / "perf"
#: children above this resident size are stopped (MB); the machine has 24 GB shared with other work
DEFAULT_CEILING_MB = 16_000


def rss_mb() -> float:
    """Peak resident memory of this process so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def scale_name(scale: float) -> str:
    return f"{scale:g}"


def sizes(scale: float) -> dict[str, int]:
    """H&M sizes at ``scale`` (weeks stay 104: the same layout, fewer rows per week)."""
    return {k: (v if k == "weeks" else max(1, round(v * scale))) for k, v in FULL.items()}


def _current_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_child(script: str | Path, args: list[str], ceiling_mb: float = DEFAULT_CEILING_MB) -> dict[str, Any]:
    """Run ``python script *args``; return the JSON dict on its last stdout line.

    A child whose resident memory passes ``ceiling_mb`` is killed and reported as
    ``{"killed": True, "rss_mb": ..., "seconds": ...}`` rather than raising.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    killed = False
    # poll memory while the child runs; communicate() afterwards collects its output
    import threading

    out: dict[str, str] = {}

    def collect() -> None:
        out["stdout"], out["stderr"] = proc.communicate()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    while reader.is_alive():
        peak = max(peak, _current_rss_mb(proc.pid))
        if peak > ceiling_mb and not killed:
            proc.kill()
            killed = True
        reader.join(0.5)
    seconds = time.perf_counter() - start
    if killed:
        return {"killed": True, "rss_mb": peak, "seconds": seconds, "ceiling_mb": ceiling_mb}
    if proc.returncode != 0:
        raise SystemExit(f"child {Path(script).name} {' '.join(args)} failed:\n{out.get('stderr', '')[-4000:]}")
    return json.loads(out["stdout"].strip().splitlines()[-1])


class Stages:
    """Wall time of named stages inside one child: ``with stages("read"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}

    def __call__(self, name: str) -> "_Stage":
        return _Stage(self, name)


class _Stage:
    def __init__(self, owner: Stages, name: str) -> None:
        self.owner, self.name = owner, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        self.owner.seconds[self.name] = time.perf_counter() - self.start
        self.owner.peak_mb[self.name] = rss_mb()  # peak so far: the process peak up to this stage's end


def tick_recorder() -> tuple[Callable[[str, int, int], None], Callable[[], dict[str, float]]]:
    """A ``progress(stage, done, total)`` callback and a function returning each stage's duration.

    The adapters call progress at the start of each stage; a stage lasts until the next call (or the end).
    """
    marks: list[tuple[str, float]] = []

    def tick(stage: str, done: int, total: int) -> None:
        marks.append((stage, time.perf_counter()))

    def durations() -> dict[str, float]:
        end = time.perf_counter()
        out: dict[str, float] = {}
        for (name, t), nxt in zip(marks, [*marks[1:], ("", end)]):
            out[name] = out.get(name, 0.0) + nxt[1] - t
        return out

    return tick, durations


def hm_raw(scale: float, seed: int = 0) -> tuple[Path, dict[str, Any] | None]:
    """Synthetic H&M raw folder at ``scale`` (generated in a child on first use, then reused).

    Returns the folder and, when it was generated now, the generation's time and peak RSS.
    """
    raw = RAW_ROOT / f"hm-synth-scale{scale_name(scale)}-seed{seed}"
    done = raw / ".complete"
    if done.is_file():
        return raw, None
    result = run_child(Path(__file__), ["generate", str(raw), str(scale), str(seed)])
    done.write_text(json.dumps(result) + "\n")
    return raw, result


def prepared(scale: float, seed: int = 0) -> tuple[Path, dict[str, Any] | None]:
    """Prepared (``prepare("hm", ...)``, loo) dataset at ``scale``: ``datasets/perf/hm-scale<s>/hm``."""
    raw, _ = hm_raw(scale, seed)
    out_root = PREPARED_ROOT / f"hm-scale{scale_name(scale)}-seed{seed}"
    if (out_root / "hm" / "hm.meta.json").is_file():
        return out_root / "hm", None
    result = run_child(Path(__file__), ["prepare", str(raw), str(out_root)])
    return out_root / "hm", result


def _child_generate(raw: str, scale: float, seed: int) -> dict[str, Any]:
    import numpy  # noqa: F401  (imports are not part of the measured growth)
    import polars  # noqa: F401

    from recsys_cl.data.synth import generate_hm

    base = rss_mb()
    start = time.perf_counter()
    summary = generate_hm(raw, seed=seed, **sizes(scale))
    return {"seconds": time.perf_counter() - start, "peak_mb": rss_mb(), "base_mb": base,
            "rows": summary["transactions"], "csv_mb": sum(p.stat().st_size for p in Path(raw).glob("*.csv")) / 1e6}


def child_prepare(raw: str, out_root: str) -> dict[str, Any]:
    """``prepare("hm", ...)`` (loo) with per-stage times and peak RSS."""
    import numpy  # noqa: F401  (imports are not part of the measured growth)
    import polars  # noqa: F401

    from recsys_cl.data import HMOptions, prepare

    base = rss_mb()
    tick, durations = tick_recorder()
    start, cpu = time.perf_counter(), time.process_time()
    meta = prepare("hm", out_root, raw=raw, options=HMOptions(name="hm"), progress=tick)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "peak_mb": rss_mb(),
            "base_mb": base, "stages": durations(), "interactions": meta["counts"]["interactions"]}


def disk_free_gb(path: Path = ROOT) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 1e9


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "generate":
        print(json.dumps(_child_generate(rest[0], float(rest[1]), int(rest[2]))))
    elif command == "prepare":
        print(json.dumps(child_prepare(rest[0], rest[1])))
    else:
        raise SystemExit(f"unknown command {command!r}")
