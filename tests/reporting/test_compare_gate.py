"""Class: a CI gate that can be switched off. Every number that decides ``compare``'s verdict is checked:
an option or a baseline that cannot judge is exit 2, never "no regression". The current run here fell
by 17% for every user (a real regression: exit 1 with sane inputs)."""

import json

import numpy as np
import pytest

from .conftest import N_USERS, write_run

VARIANTS = {("pop", "none"): np.full(N_USERS, 0.1), ("als", "none"): np.full(N_USERS, 0.3)}


@pytest.fixture
def runs(tmp_path, cli):
    base = write_run(tmp_path / "base", VARIANTS)
    worse = write_run(tmp_path / "cur", {**VARIANTS, ("als", "none"): np.full(N_USERS, 0.25)})
    baseline = tmp_path / "base.json"
    code, _, _ = cli(["baseline", "save", str(base), "--out", str(baseline), "--metrics", "ndcg@10"])
    assert code == 0
    code, out, _ = cli(["compare", str(worse), "--baseline", str(baseline)])
    assert code == 1 and "REGRESSED" in out  # the drop the cases below must not hide
    return worse, baseline


def damaged(baseline, how):
    data = json.loads(baseline.read_text())
    entry = next(e for e in data["entries"] if e["variant"] == "als")
    if how == "nan":
        entry["value"] = float("nan")
    elif how == "infinity":
        entry["value"] = float("inf")
    elif how == "per-user nan":
        entry["per_user"]["value"][0] = float("nan")
    elif how == "per-user shorter than its users":
        entry["per_user"]["value"] = entry["per_user"]["value"][:20]
    elif how == "per-user of some users only":  # consistent with itself (mean = value), but not the run's users
        for key in ("user_id", "value"):
            entry["per_user"][key] = entry["per_user"][key][:12]
        entry["per_user"]["value"] = [0.25] * 12
        entry["value"] = 0.25
    elif how == "per-user that disagrees with the value":
        entry["per_user"]["value"] = [0.25] * len(entry["per_user"]["value"])
    out = baseline.with_name(f"{how}.json")
    out.write_text(json.dumps(data))  # json writes NaN / Infinity literals, as a hand edit would
    return out


@pytest.mark.parametrize(
    "options, damage, message",
    [
        (["--rtol", "nan"], None, "--rtol: Input should be a finite number"),
        (["--rtol", "-1"], None, "--rtol: Input should be greater than or equal to 0"),
        (["--rtol", "1"], None, "--rtol: Input should be less than 1"),
        (["--rtol", "inf"], None, "--rtol: Input should be a finite number"),
        (["--alpha", "nan"], None, "--alpha: Input should be a finite number"),
        (["--alpha", "0"], None, "--alpha: Input should be greater than 0"),
        (["--alpha", "-0.5"], None, "--alpha: Input should be greater than 0"),
        ([], "nan", "entries.1.value: Input should be a finite number"),
        ([], "infinity", "entries.1.value: Input should be a finite number"),
        ([], "per-user nan", "per_user.value.0: Input should be a finite number"),
        ([], "per-user shorter than its users", f"{N_USERS} user ids but 20 values"),
        ([], "per-user of some users only", f"cover 12 users, the run's {N_USERS}"),
        ([], "per-user that disagrees with the value", "is not the entry's value"),
    ],
)
def test_a_gate_that_cannot_judge_is_exit_2(runs, cli, options, damage, message):
    current, baseline = runs
    if damage is not None:
        baseline = damaged(baseline, damage)
    code, out, err = cli(["compare", str(current), "--baseline", str(baseline), *options])
    assert code == 2, (code, out, err)
    assert message in err and "no regression" not in out and err.count("\n") == 1
