import json
from pathlib import Path

import pytest


RAW = Path(__file__).parent / "fixtures" / "hm_raw"


def test_prepare_hm_then_summary_json(tmp_path, cli):
    code, out, _ = cli(["prepare", "hm", "--raw", str(RAW), "--out", str(tmp_path), "--protocols", "loo"])
    assert code == 0 and "wrote" in out
    code, out, _ = cli(["summary", str(tmp_path / "hm"), "--json"])
    rows = json.loads(out)
    assert code == 0
    assert [(r["part"], r["users"], r["interactions"], r["cold_items"]) for r in rows] == [
        ("train", 3, 4, 0), ("valid", 1, 1, 0), ("test", 2, 2, 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "argv, message",
    [
        (["prepare", "hm", "--raw", "/no/such/dir"], "/no/such/dir: raw hm folder not found"),
        (["prepare", "hm", "--raw", str(RAW), "--protocols", "loo,random"], "--protocols: unknown protocol 'random'"),
        (["prepare", "hm", "--raw", str(RAW), "--min-user", "0"], "--min-user-interactions: Input should be greater than or equal to 1"),
        (["summary", "/no/such/dataset"], "not a directory"),
    ],
)
def test_bad_input_one_line_nonzero_exit(tmp_path, argv, message, cli):
    code, _, err = cli(argv + (["--out", str(tmp_path)] if argv[0] == "prepare" else []))
    assert code == 2
    error_lines = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert len(error_lines) == 1 and message in error_lines[0]


@pytest.mark.parametrize("argv", [[], ["prepare"], ["prepare", "hm"], ["prepare", "styles"], ["prepare", "ml-100k"],
                                  ["data", "synth", "hm"], ["data", "synth", "styles"], ["summary"], ["demo"]])  # fmt: skip
def test_every_command_has_help(argv, cli):
    code, out, _ = cli(argv + ["--help"])
    assert code == 0 and "Usage" in out


def test_demo_generates_prepares_and_summarises(tmp_path, cli):
    code, out, _ = cli(["demo", "--out", str(tmp_path)])
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("│ hm-synth") or line.startswith("│ ml-100k")]
    assert len(rows) == 2 * 3 * 3  # datasets x protocols x parts
    assert (tmp_path / "raw" / "hm-synth" / "transactions_train.csv").is_file()
    for name in ("hm-synth", "ml-100k"):
        for suffix in ("train", "valid", "test", "temporal-test", "cold-item-test"):
            assert (tmp_path / "atomic" / name / f"{name}.{suffix}.inter").is_file()
    ml_loo_test = [line for line in rows if line.startswith("│ ml-100k") and "│ loo" in line and "│ test" in line][0]
    assert "943" in ml_loo_test
