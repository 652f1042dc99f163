"""Property: a file of source table, recbole or mmrec cut or corrupted at any byte either prepares (with as many
interactions as an independent reader finds rows) or stops with one InputError naming ``file:line`` (or the
file, for a whole-file problem), leaving nothing in the out folder. Seeded: every run tries the same cases."""

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys_cl.data import prepare
from recsys_cl.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
CASES = {  # source -> (fixture folder, options, interactions file, field separator, files that may be damaged)
    "table": (FIXTURES / "table_raw" / "shop", {"protocols": ["cold-item"], "interactions": {
        "file": "events.csv", "user": "customer", "item": "sku", "price": "amount"}}, "events.csv", ",",
        ["events.csv"]),
    "recbole": (FIXTURES / "recbole_raw" / "tiny", {"protocols": ["cold-item"], "unknown_items": "keep"}, "tiny.inter", "\t",
                ["tiny.inter", "tiny.item", "tiny.user"]),
    "mmrec": (FIXTURES / "mmrec_raw" / "baby", {"drop_cold_users": False}, "baby.inter", "\t",
              ["baby.inter", "i_id_mapping.csv", "u_id_mapping.csv"]),
}  # fmt: skip
HITS = [b",", b"\t", b"\n", b"\r", b'"', b"\0", b"\xff", b"\xc3", b"x", b"7", b" ", b"-", b""]
# messages about a whole file or a whole column, not one line
FILE_LEVEL = ("cannot unpack", "no data rows", "must run 0..", "not in u_id_mapping.csv", "is not in tiny.item", "would be empty")


@pytest.mark.parametrize("source", list(CASES))
@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_files_prepare_or_fail_naming_the_line(tmp_path_factory, source, data):
    folder, options, inter_file, separator, files = CASES[source]
    name = data.draw(st.sampled_from(files))
    how = data.draw(st.sampled_from(["cut", "replace", "insert"]))
    original = (folder / name).read_bytes()
    at = data.draw(st.integers(0, len(original) - 1))
    hit = data.draw(st.sampled_from(HITS))
    damaged = {"cut": original[:at], "replace": original[:at] + hit + original[at + 1 :], "insert": original[:at] + hit + original[at:]}[how]
    root = tmp_path_factory.mktemp(source)
    raw = root / folder.name
    shutil.copytree(folder, raw)
    (raw / name).write_bytes(damaged)
    out = root / "out"
    try:
        meta = prepare(source, out, raw=raw, options={"name": "ds", **options})
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and not out.exists(), message
        named_line = any(f"{f}:" in message for f in files + [inter_file])
        assert named_line or any(m in message for m in FILE_LEVEL), message
        return
    lines = (raw / inter_file).read_bytes().decode("utf-8").split("\n")
    rows = [line for line in lines[1:] if line.strip()]
    assert meta["counts"]["interactions"] <= len(rows)  # never more rows than the file holds
    if name == inter_file and source != "mmrec":  # nothing filters these: every row is one interaction
        assert meta["counts"]["interactions"] == len(rows)
