"""Classes: output paths that escape, and two runs on one results folder.

A config's ``name`` decides ``results/<name>`` and is a plain name; a folder that holds another
experiment (its run.json names another config) or files a results folder never holds is refused
unless ``--overwrite``; a folder another run holds is refused naming the holder. All before any work."""

import json
import os

import pytest

from recsys_cl.bench import check_results_folder, load_config, results_lock
from recsys_cl.errors import InputError

CONFIG = """name: {name}
datasets:
  - {{name: hs, source: hm-synth, synth: {{customers: 30, articles: 20, weeks: 3, seed: 1}}}}
models:
  - {{model: pop}}
"""


def config(tmp_path, name="mine"):
    path = tmp_path / f"{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(CONFIG.format(name=json.dumps(name)))
    return path


@pytest.mark.parametrize("name", ["../x", "../../other/run", "/tmp/abs", "..", ".hidden", "a/b", "a\\b", "", " x", "x\n", "n" * 300])
def test_config_names_are_plain_names(tmp_path, cli, name):
    path = config(tmp_path, name)
    with pytest.raises(InputError, match="name: config name .* must be a plain folder name"):
        load_config(path)
    before = set(os.listdir(tmp_path))
    cwd = os.getcwd()
    os.chdir(tmp_path)  # where results/<name> would have been resolved
    try:
        code, _, err = cli(["bench", str(path)])
    finally:
        os.chdir(cwd)
    assert code == 2 and "plain folder name" in err and set(os.listdir(tmp_path)) == before


def test_a_folder_holding_something_else_is_refused_unless_asked(tmp_path, cli):
    other = tmp_path / "other"
    (other / "cells").mkdir(parents=True)
    (other / "run.json").write_text(json.dumps({"config": {"name": "theirs"}, "recsys_cl_version": "x"}))
    (other / "metrics.csv").write_text("theirs\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("mine")
    for folder, message in ((other, "holds the results of config 'theirs', not 'mine'"), (home, "not a results folder (it holds thesis.tex)")):
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        for command in ("bench", "tune"):
            code, _, err = cli([command, str(config(tmp_path)), "--out", str(folder)])
            assert code == 2 and message in err and "--overwrite" in err, err
        assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
        check_results_folder(folder, "mine", overwrite=True)  # asked for explicitly: taken
    # this config's own earlier run, an interrupted one (no run.json yet) and a new folder are taken
    (other / "run.json").write_text(json.dumps({"config": {"name": "mine"}}))
    check_results_folder(other, "mine")
    (other / "run.json").unlink()
    (other / ".run.json.abc.tmp").write_text("{")  # left by a kill during an atomic write
    check_results_folder(other, "mine")
    check_results_folder(tmp_path / "new", "mine")


def test_a_second_run_on_a_held_folder_is_refused_naming_the_holder(tmp_path, cli):
    out = tmp_path / "out"
    with results_lock(out, "bench"):
        code, _, err = cli(["bench", str(config(tmp_path)), "--out", str(out)])
        assert code == 2 and f"in use by another run (recsys-cl bench, pid {os.getpid()} on" in err
        code, _, err = cli(["tune", str(config(tmp_path)), "--out", str(out)])
        assert code == 2 and "in use by another run" in err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing was run; the holder's note is gone
    with results_lock(out):  # released: the next run takes it
        pass
