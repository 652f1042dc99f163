"""Regression tracking: save a run's metrics as a baseline, compare a later run against it.

A tracked metric regresses when it fell by more than ``rtol`` (relative) AND, where both sides
kept per-user scores, a one-sided paired randomisation test says the drop is not noise
(p < ``alpha``). Without per-user scores on both sides the tolerance alone decides.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from recsys_cl import __version__
from recsys_cl.data._atomic import write_json
from recsys_cl.errors import InputError
from recsys_cl.evaluation._significance import sign_flip_pvalue
from recsys_cl.reporting._results import Results, load_results, variants

DEFAULT_TRACKED = ["ndcg@10", "hr@10", "map@12"]


def _entries(results: Results, metrics: list[str], per_user: bool) -> list[dict[str, Any]]:
    entries = []
    for dataset, protocol in results.groups():
        for label, group in variants(results.cells_of(dataset, protocol)).items():
            for metric in metrics:
                values = [c.summary.get(metric) for c in group]
                if any(v is None for v in values):
                    continue
                entry = {
                    "dataset": dataset, "protocol": protocol, "variant": label, "metric": metric,
                    "value": float(np.mean(values)), "seeds": sorted(c.seed for c in group),
                }  # fmt: skip
                if per_user:
                    frame = results.seed_averaged(group, metric)
                    entry["per_user"] = {"user_id": frame["user_id"].to_list(), "value": frame["value"].to_list()}
                entries.append(entry)
    return entries


def save_baseline(results_dir: str | Path, out: str | Path, *, metrics: list[str] | None = None, per_user: bool = True) -> dict[str, Any]:
    results = load_results(results_dir)
    metrics = metrics or DEFAULT_TRACKED
    baseline = {
        "name": results.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": results.run.git_commit,
        "recsys_cl_version": __version__,
        "metrics": metrics,
        "entries": _entries(results, metrics, per_user),
    }
    if not baseline["entries"]:
        raise InputError(f"{results_dir}: none of the metrics {', '.join(metrics)} are in the results")
    write_json(out, baseline)
    return baseline


def _paired_drop_p(base: dict[str, list], current: dict[str, list], seed: int = 0) -> float | None:
    """One-sided p that current < baseline on the users both evaluated (None if too few shared users)."""
    b = dict(zip(base["user_id"], base["value"]))
    c = dict(zip(current["user_id"], current["value"]))
    shared = sorted(set(b) & set(c))
    if len(shared) < 10:
        return None
    diff = np.array([c[u] - b[u] for u in shared], dtype=np.float64)
    if not diff.any():
        return 1.0
    return sign_flip_pvalue(diff, alternative="less", n_resamples=5000, seed=seed)


def compare_to_baseline_file(
    results_dir: str | Path, baseline_path: str | Path, *, rtol: float = 0.02, metrics: list[str] | None = None, alpha: float = 0.05
) -> tuple[list[dict[str, Any]], bool]:
    """Rows of (entry, baseline, current, change, p, status) and whether any tracked metric regressed."""
    import json

    baseline_path = Path(baseline_path)
    if not baseline_path.is_file():
        raise InputError(f"{baseline_path}: baseline file not found")
    try:
        baseline = json.loads(baseline_path.read_text())
        entries = baseline["entries"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise InputError(f"{baseline_path}: not a baseline written by `recsys-cl baseline save`") from exc
    tracked = metrics or baseline.get("metrics", DEFAULT_TRACKED)
    results = load_results(results_dir)
    current = {
        (e["dataset"], e["protocol"], e["variant"], e["metric"]): e for e in _entries(results, tracked, per_user=True)
    }
    rows, regressed = [], False
    for base in entries:
        if base["metric"] not in tracked:
            continue
        key = (base["dataset"], base["protocol"], base["variant"], base["metric"])
        now = current.get(key)
        row = {"dataset": key[0], "protocol": key[1], "variant": key[2], "metric": key[3], "baseline": base["value"]}
        if now is None:
            row.update({"current": None, "change": None, "p": None, "status": "MISSING"})
            regressed = True
        else:
            change = (now["value"] - base["value"]) / base["value"] if base["value"] else (0.0 if now["value"] == base["value"] else math.inf)
            p = _paired_drop_p(base["per_user"], now["per_user"]) if "per_user" in base else None
            beyond = now["value"] < base["value"] * (1 - rtol)
            if beyond and (p is None or p < alpha):
                status = "REGRESSED"
                regressed = True
            elif beyond:
                status = "noise"  # fell beyond tolerance, but the paired test cannot tell it from noise
            elif now["value"] > base["value"] * (1 + rtol):
                status = "improved"
            else:
                status = "ok"
            row.update({"current": now["value"], "change": change, "p": p, "status": status})
        rows.append(row)
    if not rows:
        raise InputError(f"{baseline_path}: no tracked metric ({', '.join(tracked)}) in the baseline")
    return rows, regressed
