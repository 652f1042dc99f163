"""Regression tracking: save a run's metrics as a baseline, compare a later run against it.

A tracked metric regresses when it fell by more than ``rtol`` (relative) AND, where both sides
kept per-user scores, a one-sided paired randomisation test says the drop is not noise
(p < ``alpha``). Without per-user scores on both sides the tolerance alone decides. Differences
within float rounding (seed averages summed in another order) are no difference.

A baseline also records what its run was made from (config, seeds, data fingerprints, package
versions). ``compare`` says what differs between the two runs and refuses to compare runs made from
another config, other seeds or other data unless told to (``allow_mismatch``): a "regression"
between different experiments is not one. Package versions are reported, not refused: catching what
an upgrade changes is what the comparison is for.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recsys_cl import __version__
from recsys_cl.errors import InputError, validated, validation_message
from recsys_cl.evaluation import sign_flip_pvalue
from recsys_cl.files import write_json
from recsys_cl.reporting._results import Results, load_results, variants

DEFAULT_TRACKED = ["ndcg@10", "hr@10", "map@12"]
#: config keys that do not change any number (so runs differing only in them are the same experiment)
COSMETIC_CONFIG_KEYS = ("name", "significance")
#: relative size below which two values are the same number (float summation order, seed averages)
FLOAT_TOLERANCE = 1e-9


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PerUser(_Strict):
    user_id: list[str]
    value: list[float]

    @model_validator(mode="after")
    def _one_value_per_user(self) -> "PerUser":
        if len(self.user_id) != len(self.value):
            raise ValueError(f"{len(self.user_id)} user ids but {len(self.value)} values")
        if len(set(self.user_id)) != len(self.user_id):
            raise ValueError("a user id is listed twice")
        return self


class CompareOptions(_Strict):
    """The numbers that decide ``compare``'s verdict: a value that would switch the gate off (NaN, a
    negative or >= 1 tolerance, a significance level of 0) is refused, not taken."""

    rtol: float = Field(0.02, ge=0, lt=1, description="relative drop tolerated")
    alpha: float = Field(0.05, gt=0, le=1, description="significance level of the paired test on per-user scores")


class BaselineEntry(_Strict):
    dataset: str
    protocol: str
    variant: str
    metric: str
    value: float
    seeds: list[int]
    per_user: PerUser | None = None

    @model_validator(mode="after")
    def _per_user_agrees(self) -> "BaselineEntry":
        # the per-user scores are what the paired test judges by: they must be the scores the value is the mean of
        if self.per_user is not None and self.per_user.value:
            mean = float(np.mean(self.per_user.value))
            if not _same(mean, self.value, 1e-6):
                raise ValueError(f"per_user: their mean {mean:.6g} is not the entry's value {self.value:.6g}")
        return self


class RunIdentity(_Strict):
    """What a run was made from: compared before any metric is."""

    config: dict[str, Any] = Field(default_factory=dict)
    data_fingerprints: dict[str, str] = Field(default_factory=dict)
    packages: dict[str, str] = Field(default_factory=dict)
    recsys_cl_version: str = ""


class Baseline(_Strict):
    name: str
    created: str
    git_commit: str | None = None
    recsys_cl_version: str
    metrics: list[str]
    entries: list[BaselineEntry]
    #: absent in baselines written before runs were identified
    run: RunIdentity | None = None


def run_identity(results: Results) -> RunIdentity:
    config = {k: v for k, v in results.run.config.items() if k not in COSMETIC_CONFIG_KEYS}
    return RunIdentity(
        config=config,
        data_fingerprints={name: entry.fingerprint for name, entry in results.run.datasets.items()},
        packages=dict(results.run.packages),
        recsys_cl_version=results.run.recsys_cl_version,
    )


def _entries(results: Results, metrics: list[str], per_user: bool) -> list[BaselineEntry]:
    entries = []
    for dataset, protocol in results.groups():
        for label, group in variants(results.cells_of(dataset, protocol)).items():
            for metric in metrics:
                values = [c.summary.get(metric) for c in group]
                if any(v is None for v in values):
                    continue
                if not all(math.isfinite(v) for v in values):
                    raise InputError(f"{results.directory}: {dataset}/{protocol}/{label} {metric} is not a finite number "
                                     f"({values}): a damaged cell record cannot be a baseline or be judged by one")  # fmt: skip
                users = None
                if per_user:
                    frame = results.seed_averaged(group, metric)
                    users = PerUser(user_id=frame["user_id"].to_list(), value=frame["value"].to_list())
                entries.append(BaselineEntry(
                    dataset=dataset, protocol=protocol, variant=label, metric=metric, value=float(np.mean(values)),
                    seeds=sorted(c.seed for c in group), per_user=users,
                ))  # fmt: skip
    return entries


def save_baseline(results_dir: str | Path, out: str | Path, *, metrics: list[str] | None = None, per_user: bool = True) -> Baseline:
    results = load_results(results_dir)
    metrics = metrics or DEFAULT_TRACKED
    baseline = Baseline(
        name=results.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        git_commit=results.run.git_commit,
        recsys_cl_version=__version__,
        metrics=metrics,
        entries=_entries(results, metrics, per_user),
        run=run_identity(results),
    )
    if not baseline.entries:
        raise InputError(f"{results_dir}: none of the metrics {', '.join(metrics)} are in the results")
    write_json(out, baseline.model_dump(mode="json", exclude_none=True))
    return baseline


def read_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: baseline file not found")
    try:
        return Baseline.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise InputError(f"{path}: not a baseline written by `recsys-cl baseline save` ({validation_message(exc)})") from None


def run_differences(baseline: RunIdentity | None, current: RunIdentity) -> tuple[list[str], list[str]]:
    """(differences that make the runs different experiments, differences only reported)."""
    if baseline is None:
        return ["the baseline does not record what its run was made from (saved by an older recsys-cl)"], []
    blocking = []
    changed, one_sided = _config_diff(baseline.config, current.config)
    seeds_changed = "seeds" in changed
    changed = [k for k in changed if k != "seeds"]
    if changed:
        blocking.append(f"config differs in: {', '.join(changed)}")
    if seeds_changed:
        blocking.append(f"seeds differ: {baseline.config.get('seeds')} vs {current.config.get('seeds')}")
    for name in sorted(set(baseline.data_fingerprints) | set(current.data_fingerprints)):
        before, now = baseline.data_fingerprints.get(name), current.data_fingerprints.get(name)
        if before != now:
            blocking.append(f"data of {name} differs (fingerprint {before} vs {now})")
    reported = [
        f"{name} {baseline.packages.get(name, '-')} -> {current.packages.get(name, '-')}"
        for name in sorted(set(baseline.packages) | set(current.packages))
        if baseline.packages.get(name) != current.packages.get(name)
    ]
    if baseline.recsys_cl_version != current.recsys_cl_version:
        reported.insert(0, f"recsys-cl {baseline.recsys_cl_version} -> {current.recsys_cl_version}")
    notes = [f"versions differ: {'; '.join(reported)}"] if reported else []
    if one_sided:
        notes.append(f"config keys only one run knows (settings added or removed between versions): {', '.join(one_sided)}")
    return blocking, notes


def _config_diff(a: Any, b: Any, path: str = "") -> tuple[list[str], list[str]]:
    """(paths whose values differ, paths only one side has). Keys only one side has are settings a later
    version added (their defaults are what the older run did) or removed: reported, not counted as a
    difference; lists are compared element by element."""
    if isinstance(a, dict) and isinstance(b, dict):
        changed, one_sided = [], []
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                one_sided.append(where)
                continue
            c, o = _config_diff(a[key], b[key], where)
            changed += c
            one_sided += o
        return changed, one_sided
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        changed, one_sided = [], []
        for i, (x, y) in enumerate(zip(a, b)):
            c, o = _config_diff(x, y, f"{path}.{i}")
            changed += c
            one_sided += o
        # a list that differs counts once, under its own name (models, not models.3.params.epochs)
        return ([path] if changed else []), one_sided
    return ([path] if a != b else []), []


def _same(a: float, b: float, tolerance: float = FLOAT_TOLERANCE) -> bool:
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def _paired_drop_p(base: PerUser, current: PerUser, allow_other_users: bool, seed: int = 0) -> float | None:
    """One-sided p that current < baseline on the users both evaluated (None if too few shared users); the two
    must list the same users unless ``allow_other_users``."""
    b = dict(zip(base.user_id, base.value))
    c = dict(zip(current.user_id, current.value))
    shared = sorted(set(b) & set(c))
    if not allow_other_users and set(b) != set(c):
        # a test over some of the users is not a test of the run: a baseline that lists other users cannot judge it
        raise InputError(f"per-user scores of the baseline cover {len(b)} users, the run's {len(c)} ({len(shared)} shared): "
                         "not the same users (--allow-mismatch tests the shared ones)")  # fmt: skip
    if len(shared) < 10:
        return None
    diff = np.array([0.0 if _same(c[u], b[u]) else c[u] - b[u] for u in shared], dtype=np.float64)
    if not diff.any():
        return 1.0
    return sign_flip_pvalue(diff, alternative="less", n_resamples=5000, seed=seed)


def compare_to_baseline_file(
    results_dir: str | Path,
    baseline_path: str | Path,
    *,
    rtol: float = 0.02,
    metrics: list[str] | None = None,
    alpha: float = 0.05,
    allow_mismatch: bool = False,
) -> tuple[list[dict[str, Any]], bool, list[str]]:
    """Rows of (entry, baseline, current, change, p, status), whether any tracked metric regressed, and the
    notes on how the two runs differ. Runs made from another config, seeds or data are refused (InputError)
    unless ``allow_mismatch``."""
    options = validated(CompareOptions, {"rtol": rtol, "alpha": alpha}, "compare", key_prefix="--")
    rtol, alpha = options.rtol, options.alpha
    baseline = read_baseline(baseline_path)
    tracked = metrics or baseline.metrics
    results = load_results(results_dir)
    blocking, reported = run_differences(baseline.run, run_identity(results))
    if blocking and not allow_mismatch:
        raise InputError(f"{results_dir} and {baseline_path} are not the same experiment: {'; '.join(blocking)} "
                         "(--allow-mismatch compares them anyway)")  # fmt: skip
    current = {(e.dataset, e.protocol, e.variant, e.metric): e for e in _entries(results, tracked, per_user=True)}
    rows, regressed = [], False
    for base in baseline.entries:
        if base.metric not in tracked:
            continue
        key = (base.dataset, base.protocol, base.variant, base.metric)
        now = current.get(key)
        row: dict[str, Any] = {"dataset": key[0], "protocol": key[1], "variant": key[2], "metric": key[3], "baseline": base.value}
        if now is None:
            row.update({"current": None, "change": None, "p": None, "status": "MISSING"})
            regressed = True
        else:
            same = _same(now.value, base.value)
            if same:
                change = 0.0
            else:
                change = (now.value - base.value) / base.value if base.value else math.inf
            if not math.isfinite(now.value):
                raise InputError(f"{results_dir}: {'/'.join(key)} is {now.value}: a run with it cannot be judged")
            try:
                p = _paired_drop_p(base.per_user, now.per_user, allow_mismatch) if base.per_user is not None and now.per_user else None
            except InputError as exc:
                raise InputError(f"{baseline_path}: {'/'.join(key)}: {exc}") from None
            beyond = not same and now.value < base.value * (1 - rtol)
            if beyond and (p is None or p < alpha):
                status = "REGRESSED"
                regressed = True
            elif beyond:
                status = "noise"  # fell beyond tolerance, but the paired test cannot tell it from noise
            elif not same and now.value > base.value * (1 + rtol):
                status = "improved"
            else:
                status = "ok"
            row.update({"current": now.value, "change": change, "p": p, "status": status})
        rows.append(row)
    if not rows:
        raise InputError(f"{baseline_path}: no tracked metric ({', '.join(tracked)}) in the baseline")
    return rows, regressed, blocking + reported
