"""What did the median pruner stop? Re-run a finished study's pruned trials to the end, unpruned, and compare
each one's valid score with the study's best.

    python benchmarks/reference/audit_pruning.py results/reference/ml-100k-content b882eb91f89e7ad151c4

RESULTS is a results folder of `recsys-cl bench` or `recsys-cl tune` (its `tuning/KEY.json` is the study's
summary; its `data/` and `embeddings/` the split and vectors the trials read). Each pruned trial is fitted
with its own parameters on the same training part, with the same validation, seed and early stopping as the
study's trials, but never pruned, and scored as the study's objective scores (its metric on the valid
part). One JSON line per trial on stdout, a summary line last; nothing is written. The test part is never
read. `--trials 5,12` audits only those trials.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recsys_cl.errors import InputError  # noqa: E402
from recsys_cl.files import read_json  # noqa: E402


class Unpruned:
    """A trial with fixed parameters that is never pruned: the study's objective reads ``params``, reports each
    validation and asks whether to stop. (Optuna's FixedTrial would not do: its ``params`` holds only what
    was suggested through it, and the objective draws nothing.)"""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params, self.user_attrs = dict(params), {}
        self.reported: dict[int, float] = {}

    def report(self, value: float, step: int) -> None:
        self.reported[step] = value

    def should_prune(self) -> bool:
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value


def audit(results: Path, key: str, only: set[int] | None = None, out=sys.stdout) -> dict[str, Any]:
    from recsys_cl.bench._config import TuningSpec
    from recsys_cl.bench._study import fixed_trial_params
    from recsys_cl.bench._trials import StudyJob, TrialContext, _objective

    path = results / "tuning" / f"{key}.json"
    if not path.is_file():
        raise InputError(f"{path}: no such study summary (give a results folder and a study key from its tuning/)")
    study = read_json(path, "study summary")
    tuning = TuningSpec(trials=study["budget"], sampler=study["sampler"], pruner=study["pruner"], metric=study["metric"],
                        refit=study["refit"], seed=study["seed"], pruner_warmup=study.get("pruner_warmup", 0))  # fmt: skip
    if tuning.pruner == "none":
        raise InputError(f"{path}: the study ran without a pruner: nothing was pruned")
    trial_params = fixed_trial_params(study["model"], study["base_params"], tuning, "cpu")
    embeddings = None
    if study["embedding"] != "none":
        embeddings = str(results / "embeddings" / study["dataset"] / study["protocol"] / f"seed-{study['seed']}" / f"{study['embedding']}.itememb")
        if not Path(embeddings).is_file():
            raise InputError(f"{embeddings}: the study's item embeddings are not in {results}")
    job = StudyJob(study_name=study["study_name"], storage="", dataset_dir=str(results / "data" / "atomic" / study["dataset"]),
                   protocol=study["protocol"], model=study["model"], base_params=dict(study["base_params"]),
                   trial_params=trial_params, space={}, embedding_path=embeddings, tuning=tuning.model_dump(), grid=None,
                   exclude_seen=_exclude_seen(results, study["protocol"]))  # fmt: skip
    context = TrialContext.open(job)
    best = study["best_value"]
    pruned = [t for t in study["trials"] if t["state"] == "pruned" and (only is None or t["number"] in only)]
    beaten = []
    for record in pruned:
        started = time.perf_counter()
        trial = Unpruned(record["params"])
        value = _objective(trial, job, context)  # type: ignore[arg-type]
        fit = trial.user_attrs.get("fit", {})
        line = {"study": study["study_name"], "number": record["number"], "params": record["params"],
                "pruned_after_epochs": record["epochs_run"], "full_value": value, "study_best": best,
                "beats_best": value > best, "epochs_run": fit.get("epochs_run"), "best_epoch": fit.get("best_epoch"),
                "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        if value > best:
            beaten.append(record["number"])
        print(json.dumps(line), file=out, flush=True)
    summary = {"study": study["study_name"], "best_trial": study["best_trial"], "best_value": best,
               "pruned_audited": len(pruned), "would_have_beaten_best": beaten}  # fmt: skip
    print(json.dumps(summary), file=out, flush=True)
    return summary


def _exclude_seen(results: Path, protocol: str) -> bool:
    """The protocol's evaluation mode in the run's config (as the study scored its objective)."""
    from recsys_cl.bench._config import BenchmarkConfig

    run = results / "run.json"
    if run.is_file():
        return BenchmarkConfig.model_validate(read_json(run, "run record")["config"]).exclude_seen(protocol)
    return protocol != "temporal"  # the protocols' defaults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results folder holding tuning/KEY.json, data/ and embeddings/")
    parser.add_argument("key", help="the study's key (the name of its tuning/KEY.json)")
    parser.add_argument("--trials", help="comma-separated trial numbers to audit (default: every pruned trial)")
    args = parser.parse_args(argv)
    try:
        only = {int(n) for n in args.trials.split(",")} if args.trials else None
    except ValueError:
        print(f"error: --trials {args.trials!r}: give trial numbers separated by commas", file=sys.stderr)
        return 2
    try:
        audit(args.results, args.key, only)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
