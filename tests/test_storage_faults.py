"""Class: the machine's own faults. A full disk is exit 2 naming the path, with nothing half-written, for
every command that writes (prepare, bench, report, baseline save, embed): each builds its outputs aside
and moves them in only when all are written.

The disk is a real 64 KiB tmpfs filled to the last block (mounting needs root and a kernel that lets the
test mount; elsewhere the test is skipped with the reason). A second test makes the write itself fail
with ENOSPC, which needs no mount."""

import errno
import os
import subprocess
import uuid

import numpy as np
import pytest

from recsys_cl.data import prepare
from recsys_cl.data.synth import generate_hm
from recsys_cl.files import atomic_output, staged_outputs
from recsys_cl.errors import StorageError, exit_status
from reporting.conftest import N_USERS, write_run


@pytest.fixture
def full_disk(tmp_path):
    disk = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    disk.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True)
        problem = mounted.stderr.strip() or "mount failed" if mounted.returncode != 0 else None
    except OSError as exc:  # no mount command
        problem = str(exc)
    if problem is not None:
        pytest.skip(f"cannot mount a small tmpfs here ({problem}); the ENOSPC test still runs")
    try:
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # take every block, so the next write fails
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_is_exit_2_naming_the_path_with_nothing_half_written(tmp_path, cli, full_disk):
    results = write_run(tmp_path / "run", {("pop", "none"): np.full(N_USERS, 0.1), ("als", "none"): np.full(N_USERS, 0.3)})
    prepare("styles-synth", tmp_path / "atomic", raw=tmp_path / "raw", options={"name": "st", "synth": {"products": 40}})
    generate_hm(tmp_path / "hm", customers=30, articles=20, weeks=3, seed=1)
    config = tmp_path / "c.yaml"
    config.write_text(f"name: c\ndatasets: [{{name: hm, source: hm, raw: {tmp_path / 'hm'}}}]\nmodels: [{{model: pop}}]\n")
    commands = {
        "prepare": (["prepare", "hm", "--raw", str(tmp_path / "hm"), "--out", str(full_disk / "atomic")], full_disk / "atomic" / "hm"),
        "bench": (["bench", str(config), "--out", str(full_disk / "res")], full_disk / "res"),
        "report": (["report", str(results), "--out", str(full_disk / "rep"), "--resamples", "20"], full_disk / "rep"),
        "baseline save": (["baseline", "save", str(results), "--out", str(full_disk / "b.json")], full_disk / "b.json"),
        "embed": (["embed", "--data", str(tmp_path / "atomic" / "st"), "--method", "raw-text", "--out", str(full_disk / "e" / "st.itememb"),
                   "-o", "text_model=tfidf"], full_disk / "e" / "st.itememb"),
    }  # fmt: skip
    for name, (argv, path) in commands.items():
        code, _, err = cli(argv)
        assert code == 2, (name, err)
        last = err.splitlines()[-1]  # after the progress bar
        assert last.startswith(f"recsys-cl: error: {path}") and last.endswith("cannot write: No space left on device"), (name, err)
        assert "Traceback" not in err
        assert files_under(full_disk) in (["filler"], ["filler", "res/.lock"]), (name, files_under(full_disk))


def test_a_failed_write_names_its_file_and_leaves_nothing(tmp_path, monkeypatch):
    """Without a small filesystem: the write itself raises ENOSPC (no file name, as the OS reports it)."""
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(StorageError, match=r"out/x.json: cannot write: No space left on device"):
        with atomic_output(tmp_path / "out" / "x.json") as tmp:
            no_space(tmp)
    assert files_under(tmp_path) == []
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "old.md").write_text("kept")
    with pytest.raises(StorageError, match=r"rep/figures/a.png: cannot write"):
        with staged_outputs(tmp_path / "rep") as staging:
            (staging / "report.md").write_text("new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staging / "figures" / "a.png"))
    assert files_under(tmp_path) == ["rep/old.md"]
    # libraries that wrap the OSError (torch, polars) keep the text: the CLI still maps it to exit 2
    assert exit_status(RuntimeError("PytorchStreamWriter failed writing file: No space left on device"))[0] == 2
    assert exit_status(RuntimeError("a bug")) is None
