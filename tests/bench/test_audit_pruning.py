"""benchmarks/reference/audit_pruning.py: a pruned trial re-run to the end scores what the same parameters
score in a study that prunes nothing."""

import importlib.util
import io
import json
from pathlib import Path

from recsys_cl.bench import tune_model
from recsys_cl.bench._config import ModelSpec, TuningSpec
from recsys_cl.models._spaces import ParamSpace

from ._tuning_data import write_tiny_dataset

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "reference" / "audit_pruning.py"
spec = importlib.util.spec_from_file_location("audit_pruning", SCRIPT)
audit_pruning = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit_pruning)

# the study of test_tuning's pruning test: regularisation up to 1e4 flattens ALS's factors, so trials are pruned
MODEL = ModelSpec(model="implicit-als", params={"factors": 8, "epochs": 8},
                  search={"reg": ParamSpace(type="log_float", low=1e-2, high=1e4)})  # fmt: skip
TUNING = TuningSpec(trials=12, sampler="random", seed=0, validate_every=2)


def test_pruned_trials_rerun_unpruned_score_as_in_a_study_without_a_pruner(tmp_path):
    data = write_tiny_dataset(tmp_path / "run" / "data" / "atomic")
    pruned = tune_model(data, "loo", MODEL, TUNING, results_dir=tmp_path / "run")
    (tmp_path / "run" / "tuning" / f"{pruned.key}.json").write_text(pruned.model_dump_json())
    # the random sampler draws trial n's parameters from (seed, n) alone: the same draws, none of them stopped
    unpruned = tune_model(data, "loo", MODEL, TUNING.model_copy(update={"pruner": "none"}), results_dir=tmp_path / "none")
    out = io.StringIO()
    summary = audit_pruning.audit(tmp_path / "run", pruned.key, out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    audited = {line["number"]: line for line in lines[:-1]}
    assert sorted(audited) == sorted(t.number for t in pruned.trials if t.state == "pruned") and audited
    full = {t.number: t for t in unpruned.trials}
    for number, line in audited.items():
        assert line["params"] == full[number].params
        assert line["full_value"] == full[number].value and line["epochs_run"] == 8
        assert line["beats_best"] == (line["full_value"] > pruned.best_value)
    assert summary == lines[-1] and summary["pruned_audited"] == len(audited)


def test_a_wrong_key_is_one_line_and_exit_2(tmp_path, capsys):
    assert audit_pruning.main([str(tmp_path), "nosuchkey"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuchkey.json: no such study summary" in err
    assert audit_pruning.main([str(tmp_path), "k", "--trials", "1,x"]) == 2
