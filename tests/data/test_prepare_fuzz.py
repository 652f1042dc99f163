"""Property: a raw file cut or corrupted at any byte either prepares exactly as its rows written
cleanly would, or stops with an InputError naming ``file:line``, leaving nothing in the out folder.

"Its rows written cleanly" comes from a reference reader independent of the code under test (Python's
csv module for the H&M files, split on the first nine commas for styles.csv), written back with
csv.writer. Seeded (derandomized) so every run tries the same few hundred cases.
"""

import csv
import io
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys_cl.data import HMOptions
from recsys_cl.data import prepare as prepare_source
from recsys_cl.data._styles import STYLES_COLUMNS
from recsys_cl.data.synth import generate_hm, generate_styles
from recsys_cl.errors import InputError

HM_FILES = ("articles.csv", "customers.csv", "transactions_train.csv")
#: bytes a damaged file holds where it was hit: separators, line ends, quotes, NUL, bytes that are
#: never UTF-8, the start of a multi-byte sequence with its end missing, plain text and digits
HITS = [b",", b"\n", b"\r", b"\r\n", b'"', b'""', b"\0", b"\xff", b"\xc3", b"\xe2\x82", b"\x80", b"x", b"7", b" ", b"-"]
#: meta.json keys that differ between any two prepares (time, folder, file bytes)
VOLATILE = {"created_at", "raw_dir", "source_fingerprint"}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """A small synthetic H&M and styles sample (with a quoted field holding a doubled quote)."""
    root = tmp_path_factory.mktemp("samples")
    generate_hm(root / "hm", customers=12, articles=10, weeks=3, transactions=40, seed=1)
    articles = root / "hm" / "articles.csv"
    articles.write_text(articles.read_text().replace('"Under-, Nightwear"', '"Under-, ""Night"" wear"', 1))
    assert '""' in articles.read_text()
    generate_styles(root / "styles", products=12, seed=1)
    return {name: (root / "hm" / name).read_bytes() for name in HM_FILES} | {
        "styles.csv": (root / "styles" / "styles.csv").read_bytes()
    }


@st.composite
def damaged(draw, files):
    """(file name, how, where as a share of its length, bytes put there): applied by :func:`apply`
    (a strategy cannot see the module fixture holding the bytes)."""
    name = draw(st.sampled_from(files))
    how = draw(st.sampled_from(["cut", "replace", "insert", "delete"]))
    fraction = draw(st.floats(0, 1, exclude_max=True))
    hit = draw(st.sampled_from(HITS) | st.binary(min_size=1, max_size=2))
    return name, how, fraction, hit


def apply(data: bytes, how: str, fraction: float, hit: bytes) -> tuple[bytes, int]:
    at = int(fraction * len(data))
    line = data.count(b"\n", 0, at) + 1
    if how == "cut":
        return data[:at], line
    if how == "replace":
        return data[:at] + hit + data[at + 1 :], line
    if how == "insert":
        return data[:at] + hit + data[at:], line
    return data[:at] + data[at + 1 :], line


def reference_rows(name: str, data: bytes, replace: bool) -> list[list[str]] | None:
    """The rows an independent reader finds, or None if it calls the file damaged."""
    try:
        text = data.decode("utf-8", "replace" if replace else "strict")
    except UnicodeDecodeError:
        return None
    if not text.endswith("\n") or "\0" in text:
        return None
    if name == "styles.csv":
        rows = []
        for line in text.removeprefix("\ufeff")[:-1].split("\n"):
            line = line.removesuffix("\r")
            if "\r" in line:
                return None
            if line:
                fields = line.split(",", len(STYLES_COLUMNS) - 1)
                if len(fields) < len(STYLES_COLUMNS):
                    return None
                rows.append(fields)
        return rows
    try:
        rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True))
    except csv.Error:
        return None
    return rows if rows and all(len(r) == len(rows[0]) for r in rows) else None


def clean_bytes(name: str, rows: list[list[str]]) -> bytes:
    if name == "styles.csv":
        return "".join(",".join(r) + "\n" for r in rows).encode()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def prepare(kind: str, files: dict[str, bytes], out: Path, replace: bool) -> tuple[dict[str, bytes] | None, str | None]:
    """Write ``files`` as a raw folder and prepare it: (output files, None) or (None, error message).

    The output's meta.json is kept without the keys that differ between any two prepares; its count of
    lines with replaced bytes is returned under the key "replaced".
    """
    raw = out.parent / f"raw-{out.name}"
    raw.mkdir()
    for name, data in files.items():
        (raw / name).write_bytes(data)
    try:
        if kind == "hm":
            prepare_source("hm", out, raw=raw, options=HMOptions(protocols=["loo"], replace_bad_bytes=replace))
        else:
            prepare_source("styles", out, raw=raw, options={"replace_bad_bytes": replace})
    except InputError as exc:
        assert not out.exists() or not any(out.rglob("*")), f"partial output after: {exc}"
        return None, str(exc).replace(str(raw), "RAW")
    written = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name.endswith(".meta.json"):
            meta = json.loads(data)
            written["replaced"] = meta.pop("lines_with_replaced_bytes")
            data = json.dumps({k: v for k, v in meta.items() if k not in VOLATILE}, sort_keys=True).encode()
        written[str(path.relative_to(out))] = data
    return written, None


def lines_not_utf8(data: bytes) -> int:
    count = 0
    for line in data.split(b"\n"):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            count += 1
    return count


def check(kind: str, samples: dict[str, bytes], case: tuple, replace: bool) -> None:
    name, how, fraction, hit = case
    files = {n: samples[n] for n in (HM_FILES if kind == "hm" else ("styles.csv",))}
    files[name], damaged_line = apply(files[name], how, fraction, hit)
    with tempfile.TemporaryDirectory() as tmp:
        got, error = prepare(kind, files, Path(tmp) / "damaged", replace)
        rows = reference_rows(name, files[name], replace)
        if error is not None:
            located = re.match(r"RAW/([\w.]+):(\d+): ", error)
            if located:
                if located.group(1) == name:  # no line before the damage can be at fault
                    assert int(located.group(2)) >= damaged_line, error
                return
            # an error with no line must be one the same rows give when written cleanly (too few rows to split...)
            assert rows is not None, f"damaged {name} ({how} at line {damaged_line}) refused without file:line: {error}"
        assert rows is not None, f"damaged {name} ({how} at line {damaged_line}) was accepted"
        expected, expected_error = prepare(kind, {**files, name: clean_bytes(name, rows)}, Path(tmp) / "clean", replace)
        if got is not None and expected is not None:
            # the clean rows hold U+FFFD as text: only the damaged file had bytes to replace
            assert got.pop("replaced") == {n: (lines_not_utf8(d) if n == name else 0) for n, d in files.items()}
            assert expected.pop("replaced") == {n: 0 for n in files}
        assert (got, error) == (expected, expected_error)


@settings(max_examples=240, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=damaged(HM_FILES), replace=st.booleans())
def test_damaged_hm_file_prepares_like_its_clean_rows_or_names_the_line(samples, case, replace):
    check("hm", samples, case, replace)


@settings(max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=damaged(("styles.csv",)), replace=st.booleans())
def test_damaged_styles_file_prepares_like_its_clean_rows_or_names_the_line(samples, case, replace):
    check("styles", samples, case, replace)
