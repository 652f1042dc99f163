"""Damaged raw rows (cut, short, long, not UTF-8, NUL, stray quotes) stop prepare with ``file:line``;
``replace_bad_bytes`` replaces undecodable bytes instead and counts the lines."""

import json
import shutil
from pathlib import Path

import pytest

from recsys_cl.data import _csv
from recsys_cl.data import HMOptions, prepare
from recsys_cl.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
HM_FILES = ("articles.csv", "customers.csv", "transactions_train.csv")


def raw_copy(tmp_path, kind="hm_raw"):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / kind, raw)
    return raw


def damage(data: bytes, how: str) -> tuple[bytes, int]:
    """Damaged bytes and the line that must be named (lines: 1 = header)."""
    lines = data.split(b"\n")[:-1]  # the fixtures end with a line end
    last = len(lines)
    if how == "last row cut, last field missing":
        return b"\n".join(lines[:-1]) + b"\n" + lines[-1].rsplit(b",", 1)[0], last
    if how == "last row cut inside its last field":  # the field count survives: only the missing line end tells
        return data[:-2], last
    if how == "row with a field fewer":
        lines[2] = lines[2].rsplit(b",", 1)[0]
        return b"\n".join(lines) + b"\n", 3
    if how == "row with an extra field":
        lines[2] += b",extra"
        return b"\n".join(lines) + b"\n", 3
    if how == "short and long row in one block":  # the byte counts add up: only the per-line look finds it
        lines[1] = lines[1].rsplit(b",", 1)[0]
        lines[2] += b",extra"
        return b"\n".join(lines) + b"\n", 2
    if how == "not UTF-8 early":
        lines[1] = lines[1][:5] + b"\xff" + lines[1][5:]
        return b"\n".join(lines) + b"\n", 2
    if how == "not UTF-8 late":
        lines[-1] = lines[-1][:12] + b"\xc3\x28" + lines[-1][12:]
        return b"\n".join(lines) + b"\n", last
    if how == "NUL bytes":  # what a crash often leaves in place of the last written block
        return data[:-30] + b"\0" * 30, data[:-30].count(b"\n") + 1
    if how == "empty line":
        return b"\n".join(lines[:2] + [b""] + lines[2:]) + b"\n", 3
    if how == "quote inside a bare field":
        lines[2] = lines[2][:3] + b'"' + lines[2][3:]
        return b"\n".join(lines) + b"\n", 3
    raise AssertionError(how)


DAMAGES = [
    "last row cut, last field missing", "last row cut inside its last field", "row with a field fewer",
    "row with an extra field", "short and long row in one block", "not UTF-8 early", "not UTF-8 late",
    "NUL bytes", "empty line", "quote inside a bare field",
]  # fmt: skip


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("file", HM_FILES)
def test_damaged_hm_row_stops_with_file_and_line(tmp_path, file, how):
    raw = raw_copy(tmp_path)
    data, line = damage((raw / file).read_bytes(), how)
    (raw / file).write_bytes(data)
    with pytest.raises(InputError) as caught:
        prepare("hm", tmp_path / "out", raw=raw)
    message = str(caught.value)
    assert message.startswith(f"{raw / file}:{line}: ") and "\n" not in message
    assert not (tmp_path / "out").exists()


STYLES_DAMAGES = [d for d in DAMAGES if d not in ("row with an extra field", "short and long row in one block", "empty line",
                                                  "quote inside a bare field")]  # fmt: skip


@pytest.mark.parametrize("how", STYLES_DAMAGES)
def test_damaged_styles_row_stops_with_file_and_line(tmp_path, how):
    raw = raw_copy(tmp_path, "styles_raw")
    data, line = damage((raw / "styles.csv").read_bytes(), how)
    (raw / "styles.csv").write_bytes(data)
    with pytest.raises(InputError) as caught:
        prepare("styles", tmp_path / "out", raw=raw)
    assert str(caught.value).startswith(f"{raw / 'styles.csv'}:{line}: ")
    assert not (tmp_path / "out").exists()


def test_styles_extra_commas_blank_lines_and_quotes_are_data(tmp_path):
    raw = raw_copy(tmp_path, "styles_raw")
    text = (raw / "styles.csv").read_text()
    lines = text.splitlines()
    lines[2] += ', 15" laptop'  # styles.csv is not quoted: a quote is part of the name
    (raw / "styles.csv").write_text("\r\n".join(lines[:3] + [""] + lines[3:]) + "\r\n")
    meta = prepare("styles", tmp_path / "out", raw=raw)
    item = (tmp_path / "out" / "styles" / "styles.item").read_text()
    assert "Peter England Men Party Blue Jeans, 15' laptop" in item  # clean_text makes " a '
    assert meta["counts"]["items_in_catalogue"] == 6 and "\r" not in item


def test_replace_bad_bytes_counts_lines_in_meta(tmp_path):
    raw = raw_copy(tmp_path)
    transactions = (raw / "transactions_train.csv").read_bytes().split(b"\n")
    transactions[3] = transactions[3].replace(b"0000423b", b"0000\xff23b")  # an id read as Categorical
    transactions[4] = transactions[4].replace(b"00000dba", b"0\xe900\xe9dba")  # two bytes, one line
    (raw / "transactions_train.csv").write_bytes(b"\n".join(transactions))
    (raw / "articles.csv").write_bytes((raw / "articles.csv").read_bytes().replace(b"narrow shoulder", b"narrow \x96 shoulder"))
    meta = prepare("hm", tmp_path / "out", raw=raw, options=HMOptions(replace_bad_bytes=True))
    counts = {"articles.csv": 1, "customers.csv": 0, "transactions_train.csv": 2}
    assert meta["lines_with_replaced_bytes"] == counts
    written = json.loads((tmp_path / "out" / "hm" / "hm.meta.json").read_text())
    assert written["lines_with_replaced_bytes"] == counts and written["options"]["replace_bad_bytes"] is True
    inter = (tmp_path / "out" / "hm" / "hm.inter").read_text()
    assert "0000\ufffd23b" in inter and "0\ufffd00\ufffddba" in inter
    assert "narrow \ufffd shoulder" in (tmp_path / "out" / "hm" / "hm.item").read_text()
    # without the option the same files stop at the first such line
    with pytest.raises(InputError, match=r"articles.csv:2: bytes that are not UTF-8 \(byte 0x96\)"):
        prepare("hm", tmp_path / "strict", raw=raw)


def test_replace_bad_bytes_styles(tmp_path):
    raw = raw_copy(tmp_path, "styles_raw")
    (raw / "styles.csv").write_bytes((raw / "styles.csv").read_bytes().replace(b"Titan Women", b"Titan \xa0Women"))
    meta = prepare("styles", tmp_path / "out", raw=raw, options={"replace_bad_bytes": True})
    assert meta["lines_with_replaced_bytes"] == {"styles.csv": 1}
    assert "Titan \ufffdWomen" in (tmp_path / "out" / "styles" / "styles.item").read_text()
    with pytest.raises(InputError, match=r"styles.csv:4: bytes that are not UTF-8"):
        prepare("styles", tmp_path / "strict", raw=raw)


def test_cli_cut_file_exits_2_and_replace_option_prints_the_count(tmp_path, cli):
    raw = raw_copy(tmp_path)
    path = raw / "transactions_train.csv"
    good = path.read_bytes()
    path.write_bytes(good[:-3])
    code, _, err = cli(["prepare", "hm", "--raw", str(raw), "--out", str(tmp_path / "out")])
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("recsys-cl: error:")] == [
        f"recsys-cl: error: {path}:8: 4 fields, expected 5; last line has no line end (file cut short?)"
    ]
    path.write_bytes(good.replace(b"2020-09-12", b"2020-09-\xff2"))
    code, _, err = cli(["prepare", "hm", "--raw", str(raw), "--out", str(tmp_path / "out")])
    assert code == 2 and f"{path}:8: bytes that are not UTF-8" in err
    code, _, err = cli(["prepare", "hm", "--raw", str(raw), "--out", str(tmp_path / "out"), "--replace-bad-bytes"])
    # the replaced date no longer parses: still a one-line error naming the line, now about the value
    assert code == 2 and f"{path}:8: column t_dat: cannot parse '2020-09-\ufffd2'" in err
    assert "replaced" not in err  # nothing is reported as replaced when prepare did not finish
    path.write_bytes(good.replace(b",1\n2020-09-12", b",1\xff\n2020-09-12"))  # in sales_channel_id: a token
    code, _, err = cli(["prepare", "hm", "--raw", str(raw), "--out", str(tmp_path / "out"), "--replace-bad-bytes"])
    assert code == 0 and "replaced bytes that are not UTF-8 by U+FFFD: transactions_train.csv 1 line" in err


@pytest.mark.parametrize("block", [1, 5, 16, 64, 1 << 20])
def test_check_rows_is_the_same_whatever_the_block_size(tmp_path, monkeypatch, block):
    """Records that span blocks (quoted line ends) carry their field count, quote state and first line."""
    monkeypatch.setattr(_csv, "_CHECK_CHUNK", block)
    path = tmp_path / "a.csv"
    good = b'a,b,c\n1,"two\nlines, and ""quotes""",3\n4,5,6\n"7",,"x\r\ny"\r\n'
    path.write_bytes(good)
    assert _csv.check_rows(path, 3) == 0
    for data, expected in [
        (good + b'8,"9,10\n', "a.csv:7: quoted field never closed"),
        (good.replace(b"4,5,6", b"4,5,6,7"), "a.csv:4: 4 fields, expected 3"),
        (good.replace(b'"7",,', b'"7",'), "a.csv:5: 2 fields, expected 3"),
        (good.replace(b'lines, and', b'lines\xff and'), "a.csv:3: bytes that are not UTF-8"),
        (good.replace(b'4,5,6', b'4,5"",6'), "a.csv:4: quote character inside an unquoted field"),
    ]:
        path.write_bytes(data)
        with pytest.raises(InputError, match=expected):
            _csv.check_rows(path, 3, every_line=True)
        with pytest.raises(InputError, match=expected):
            _csv.check_rows(path, 3)
