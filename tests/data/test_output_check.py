"""``--out`` that is a file or not writable is refused before any input is read."""

import os
from pathlib import Path

import pytest

from recsys_cl.data import prepare
from recsys_cl.errors import InputError

#: raw folders that would fail on their own (no CSV in them): the output check must speak first
EMPTY_RAW = "empty-raw"


@pytest.fixture
def unwritable(tmp_path):
    """A folder nobody may create files in: permission bits for a normal user; root ignores those, /proc it cannot write."""
    if os.geteuid() == 0:
        yield Path("/proc")
        return
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def outputs(tmp_path, unwritable):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    return {
        "is a file": (a_file, "is not a folder"),
        "inside a file": (a_file / "deeper", "a-file is not a folder"),
        "not writable": (unwritable / "out", "cannot write the output folder"),
    }


@pytest.mark.parametrize("case", ["is a file", "inside a file", "not writable"])
@pytest.mark.parametrize("source", ["hm", "styles", "ml-100k"])
def test_bad_out_is_refused_before_reading(tmp_path, unwritable, case, source):
    out_root, message = outputs(tmp_path, unwritable)[case]
    raw = tmp_path / EMPTY_RAW
    raw.mkdir()
    with pytest.raises(InputError) as caught:
        prepare(source, out_root, raw=raw)
    assert message in str(caught.value) and str(out_root) in str(caught.value)


def test_output_check_accepts_new_and_existing_folders_and_creates_nothing(tmp_path):
    from recsys_cl.files import check_output_dir

    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()
    assert check_output_dir(tmp_path) == tmp_path
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_cli_out_is_a_file_exits_2_with_one_line(tmp_path, cli):
    a_file = tmp_path / "a-file"
    a_file.write_text("x\n")
    code, _, err = cli(["prepare", "hm", "--raw", str(tmp_path / EMPTY_RAW), "--out", str(a_file)])
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("recsys-cl: error:")] == [
        f"recsys-cl: error: {a_file / 'hm'}: cannot create the output folder: {a_file} is not a folder"
    ]
