"""recsys_cl.files.read_text: one reader for every UTF-8 text file a user gives (configs, JSON records, id
lists), and its one-line error naming the file and the line of the first bad bytes."""

import pytest

from recsys_cl.errors import InputError
from recsys_cl.files import read_json, read_text
from recsys_cl.yamlfile import read_yaml


def test_bytes_that_are_not_utf8_are_refused_naming_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"name: x\nmodels:\n  - {model: p\xffop}\n")
    with pytest.raises(InputError, match=r"bad\.yaml:3: bytes that are not UTF-8"):
        read_yaml(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_bytes(b'{\n"a": "\xc3("}')
    with pytest.raises(InputError, match=r"bad\.json:2: bytes that are not UTF-8"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(InputError, match=r"none\.txt: ids file not found"):
        read_text(tmp_path / "none.txt", "ids file")


def test_good_text_is_returned_as_it_is(tmp_path):
    (tmp_path / "ok.txt").write_text("a\nÄ\n", encoding="utf-8")
    assert read_text(tmp_path / "ok.txt") == "a\nÄ\n"
