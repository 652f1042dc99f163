"""Content fingerprints of input files: every byte counts, and an unchanged file is not read again."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from recsys_cl.data import _csv
from recsys_cl.data._csv import fingerprint

MIB = 1 << 20


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder and a short "racy" window, so a file written by the test can be cached after a short wait."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RECSYS_CL_CACHE", str(folder))
    monkeypatch.setattr(_csv, "RACY_SECONDS", 0.2, raising=False)
    return folder


def settled_file(path: Path, size: int = 3 * MIB) -> Path:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    time.sleep(0.3)  # older than the racy window: its hash may be cached
    return path


def bytes_read() -> int:
    """Bytes this process has read through read(2) and friends so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_in_place_rewrite_of_a_middle_byte_with_mtime_restored_is_seen(tmp_path, cache):
    path = settled_file(tmp_path / "transactions_train.csv")
    before = fingerprint([path])
    assert (cache / "fingerprints.json").is_file()  # the hash was cached: the next call must not trust it blindly
    stat = path.stat()
    with open(path, "r+b") as fh:  # same size, one byte in the middle (not in the first or last MiB)
        fh.seek(len(path.read_bytes()) // 2)
        old = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([old[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert fingerprint([path]) != before


def test_rewrite_with_new_content_is_seen_and_same_content_same_fingerprint(tmp_path, cache):
    path = settled_file(tmp_path / "a.csv")
    before = fingerprint([path])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    changed = fingerprint([path])
    assert changed != before
    path.write_bytes(bytes(data))  # rewritten with the same bytes: the same fingerprint
    assert fingerprint([path]) == changed


def test_unchanged_file_is_not_read_again(tmp_path, cache):
    path = settled_file(tmp_path / "big.csv", 4 * MIB)
    start = bytes_read()
    first = fingerprint([path])
    assert bytes_read() - start >= 4 * MIB
    start = bytes_read()
    assert fingerprint([path]) == first
    assert bytes_read() - start < MIB // 4  # the cache file only, not the input


def test_recently_changed_file_is_read_again(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(_csv, "RACY_SECONDS", 60.0)
    path = tmp_path / "fresh.csv"
    path.write_bytes(b"x" * MIB)
    fingerprint([path])
    start = bytes_read()
    fingerprint([path])
    assert bytes_read() - start >= MIB  # its timestamps could not tell a same-tick rewrite apart: hashed again


def test_damaged_cache_is_ignored_and_replaced(tmp_path, cache):
    path = settled_file(tmp_path / "a.csv", MIB)
    expected = fingerprint([path], cache_dir=tmp_path / "other-cache")
    cache.mkdir()
    (cache / "fingerprints.json").write_text('{"truncated": ')
    assert fingerprint([path]) == expected
    assert str(path.resolve()) in json.loads((cache / "fingerprints.json").read_text())
    # an entry whose hash was tampered with is trusted only while its file identity matches: a new
    # file at the same path (other inode, ctime) is hashed afresh
    entries = json.loads((cache / "fingerprints.json").read_text())
    entries[str(path.resolve())]["sha256"] = "0" * 64
    (cache / "fingerprints.json").write_text(json.dumps(entries))
    replacement = tmp_path / "b.csv"
    replacement.write_bytes(path.read_bytes())
    replacement.replace(path)
    assert fingerprint([path]) == expected


def test_file_order_does_not_matter_but_names_do(tmp_path, cache):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"1,2\n")
    b.write_bytes(b"3,4\n")
    assert fingerprint([a, b]) == fingerprint([b, a])
    c = tmp_path / "c.csv"
    c.write_bytes(b"1,2\n")
    assert fingerprint([a]) != fingerprint([c])
