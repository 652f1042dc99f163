"""The source registry and prepare(): one signature, options checked first, build-then-swap."""

import os
import shutil
from pathlib import Path

import pytest

from recsys_cl.data import SOURCES, HMOptions, input_fingerprint, load_dataset, prepare
from recsys_cl.errors import InputError

RAW = Path(__file__).parent / "fixtures" / "hm_raw"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_registry_lists_every_source_with_one_build_signature():
    assert set(SOURCES) >= {"hm", "hm-synth", "ml-100k", "styles", "styles-synth"}
    assert SOURCES.get("styles").has_interactions is False and SOURCES.get("hm").raw == "required"
    with pytest.raises(InputError, match="unknown data source 'movielens'; known: hm, hm-synth"):
        SOURCES.get("movielens")


def test_failed_rerun_keeps_the_previous_dataset_whole(tmp_path, cli):
    code, _, _ = cli(["prepare", "hm", "--raw", str(RAW), "--out", str(tmp_path), "--protocols", "loo"])
    assert code == 0
    before = snapshot(tmp_path / "hm")
    assert {"hm.inter", "hm.item", "hm.user", "hm.meta.json", "hm.train.inter"} <= set(before)
    # a temporal split whose test window swallows every day leaves train empty: the split fails
    code, _, err = cli(["prepare", "hm", "--raw", str(RAW), "--out", str(tmp_path), "--protocols", "loo,temporal",
                        "--test-days", "100000"])  # fmt: skip
    assert code == 2 and "temporal: the train part would be empty" in err
    assert snapshot(tmp_path / "hm") == before  # nothing deleted, nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hm"]  # no temporary folder left beside it
    assert load_dataset(tmp_path / "hm").protocols == ["loo"]


def test_successful_rerun_replaces_the_dataset_and_leaves_nothing_else(tmp_path):
    prepare("hm", tmp_path, raw=RAW)
    first = snapshot(tmp_path / "hm")
    prepare("hm", tmp_path, raw=RAW, options=HMOptions(protocols=["loo", "cold-item"]))
    assert "hm.cold-item-train.inter" in snapshot(tmp_path / "hm") and "hm.cold-item-train.inter" not in first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hm"]
    mode = (tmp_path / "hm").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask  # a normal folder, not the 0700 of a temporary one


@pytest.mark.parametrize(
    "options, message",
    [
        ({"weekz": 3}, "prepare hm: weekz: Extra inputs are not permitted"),
        ({"protocols": ["loo", "random"]}, "prepare hm: protocols: unknown protocol 'random'"),
        ({"name": "../escape"}, "prepare hm: name: dataset name '../escape' must be a plain folder name"),
        ({"cold_item_share": 0.7}, "prepare hm: cold_item_share: Input should be less than 0.5"),
    ],
)
def test_bad_options_are_refused_before_any_work(tmp_path, options, message):
    with pytest.raises(InputError) as caught:
        prepare("hm", tmp_path / "out", raw=RAW, options=options)
    assert message in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_output_that_is_a_file_is_refused_before_reading(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli(["prepare", "hm", "--raw", str(RAW), "--out", str(blocker / "atomic")])
    assert code == 2 and f"cannot create the output folder: {blocker} is not a folder" in err


def test_input_fingerprint_follows_the_contents_of_the_raw_files(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    first = input_fingerprint("hm", raw, {})
    assert input_fingerprint("hm", raw, {}) == first
    assert input_fingerprint("hm", raw, {"weeks": 2}) != first  # options decide the dataset too
    path = raw / "transactions_train.csv"
    text = path.read_text()
    path.write_text(text.replace("0.0508", "0.0509", 1))  # one digit, same size
    assert input_fingerprint("hm", raw, {}) != first
    path.write_text(text)
    assert input_fingerprint("hm", raw, {}) == first
